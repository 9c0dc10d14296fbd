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
    from imgpar import api as api
    from imgpar import errors as errors
    from imgpar.api import Report, convert, iter_convert
    from imgpar.collect import Summary
    from imgpar.spec import OutputRecord, Result

__all__ = [
    "OUTPUT_VERSION",
    "ClusterError",
    "Error",
    "OutputRecord",
    "Report",
    "Result",
    "Summary",
    "UsageError",
    "__version__",
    "convert",
    "iter_convert",
]

# Where each name is, loaded as it is first asked for, so that `import
# imgpar` (and `imgpar --help`) stays free of Pillow.
_LAZY = {
    "convert": "imgpar.api",
    "iter_convert": "imgpar.api",
    "Report": "imgpar.api",
    "Summary": "imgpar.collect",
    "Result": "imgpar.spec",
    "OutputRecord": "imgpar.spec",
}

if not TYPE_CHECKING:  # a type checker sees only the names above: a typo is an error

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            return getattr(importlib.import_module(_LAZY[name]), name)
        if name == "api":  # as README names it: imgpar.api.prepare()
            return importlib.import_module("imgpar.api")
        raise AttributeError(f"module 'imgpar' has no attribute {name!r}")
