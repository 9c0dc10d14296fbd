"""imgpar: parallel batch image converter."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imgpar.errors import ClusterError, Error, UsageError

__version__ = "0.1.0"
# Bumped whenever the same source and options would give different output
# bytes, so that incremental runs redo everything made by older versions.
OUTPUT_VERSION = 2

if TYPE_CHECKING:
    from imgpar.api import convert, iter_convert

__all__ = [
    "OUTPUT_VERSION",
    "ClusterError",
    "Error",
    "UsageError",
    "__version__",
    "convert",
    "iter_convert",
]


def __getattr__(name: str) -> Any:
    # Lazy so that `import imgpar` (and `imgpar --help`) stays free of Pillow.
    if name in ("convert", "iter_convert"):
        from imgpar import api

        return getattr(api, name)
    if name in ("api", "errors"):  # as README names them: imgpar.api.prepare()
        return importlib.import_module(f"imgpar.{name}")
    raise AttributeError(name)
