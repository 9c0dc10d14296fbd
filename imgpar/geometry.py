"""Output sizes and shrink-on-load targets: pure arithmetic, no pixels."""

from __future__ import annotations

from imgpar.spec import Resize

# EXIF orientations 5-8 store the picture on its side.
TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})


def fit(size: tuple[int, int], resize: Resize | None) -> tuple[int, int]:
    """The displayed size after fitting `size` into the resize box."""
    w, h = size
    if resize is None:
        return size
    scales = []
    if resize.width:
        scales.append(resize.width / w)
    if resize.height:
        scales.append(resize.height / h)
    if not scales:
        return size
    scale = min(scales)
    if scale >= 1 and not resize.upscale:
        return size
    return max(1, round(w * scale)), max(1, round(h * scale))


def draft_request(stored: tuple[int, int], target: tuple[int, int]) -> tuple[int, int] | None:
    """The size to ask JPEG `draft()` for so it decodes at the smallest DCT
    scale that still covers `target` (both in stored orientation).

    Asking with the target's own aspect ratio matters: a square box on a 3:2
    photo lets the short side veto any reduction. None when no reduction helps.
    """
    sw, sh = stored
    tw, th = target
    if tw * 2 > sw or th * 2 > sh:
        return None
    return tw, th


def stored_size(displayed: tuple[int, int], orientation: int) -> tuple[int, int]:
    if orientation in TRANSPOSED_ORIENTATIONS:
        return displayed[1], displayed[0]
    return displayed
