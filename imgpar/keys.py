"""The cache's keys: what decides the bytes imgpar writes.

A run has one key for all it writes (`run_key`): a source whose cache row
carries it, with every recorded output in place, is up to date at the cost
of a string comparison. Each output also has a key of the settings that make
its bytes other than its size (`settings_key`): when the run's key differs
(a format added or dropped, another width), the outputs recorded with the
same settings, at the size and place this run would give them, are kept, and
only the others are made.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from imgpar import OUTPUT_VERSION
from imgpar.formats import TARGETS, full_chroma
from imgpar.spec import ConvertSpec, OutputSpec

try:
    # The blake2b that hashlib hands out; importing hashlib itself loads
    # OpenSSL, ~8 ms of every run, a no-op re-run's included.
    from _blake2 import blake2b
except ImportError:
    from hashlib import blake2b

# Spec fields that never change what is written: they stay out of the keys.
_NOT_IN_OUTPUT = frozenset({"max_pixels", "allow_truncated", "started_ns"})


def run_key(spec: ConvertSpec, template: str) -> str:
    fields = {k: v for k, v in _plain(spec).items() if k not in _NOT_IN_OUTPUT}
    return _hash([OUTPUT_VERSION, template, fields, *_since_output_version(spec.outputs, spec)])


def settings_key(spec: ConvertSpec, output: OutputSpec) -> str:
    """What makes `output`'s bytes besides its size and name: the encoder's
    settings as this format takes them (a quality PNG ignores is left out),
    and how pixels are resampled, cropped, coloured and annotated."""
    target = TARGETS[output.target]
    resize = output.resize
    fields = {
        "target": target.name,
        "quality": (spec.quality or target.default_quality) if target.quality else None,
        "lossless": spec.lossless if target.lossless == "option" else None,
        "filter": spec.filter,
        "srgb": spec.srgb,
        "metadata": spec.metadata,
        "all_pages": spec.all_pages,
        # With the source's size and the output's, these decide a crop.
        "fit": resize.fit if resize else None,
        "gravity": resize.gravity if resize else None,
    }
    return "s" + _hash([OUTPUT_VERSION, fields, *_since_output_version([output], spec)])


def _since_output_version(outputs: Sequence[OutputSpec], spec: ConvertSpec) -> list[str]:
    """What changed an output's bytes since OUTPUT_VERSION was last raised,
    for the outputs it changed alone: raising it would have every other
    output made again too, a photographer's whole library at once.
    Full-resolution colour from JPEG and AVIF quality 90 (2026-12-07); under
    no-gps, no maker note, XMP place or creator's address (2026-12-08): a
    place published must not stay so in the outputs made before."""
    since = []
    if any(full_chroma(TARGETS[o.target], spec.quality) for o in outputs):
        since.append("chroma 4:4:4")
    if spec.metadata == "no-gps":
        since.append("no-gps places")
    return since


def _hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, default=str)
    return blake2b(blob.encode(), digest_size=12).hexdigest()


def _plain(value: Any) -> Any:
    """The spec's named tuples as dicts and its tuples as lists: the JSON that
    `dataclasses.asdict` gave when the records were dataclasses, so that the
    run key, and with it every cache, stays the same."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
