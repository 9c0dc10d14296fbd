"""Output sizes, crop boxes and shrink-on-load targets: pure arithmetic, no pixels."""

from __future__ import annotations

import math

from imgpar.spec import Resize

# EXIF orientations 5-8 store the picture on its side.
TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})

Box = tuple[float, float, float, float]

# Where a cover crop sits, as fractions of the slack on each axis.
_GRAVITY = {
    "center": (0.5, 0.5),
    "north": (0.5, 0.0),
    "south": (0.5, 1.0),
    "east": (1.0, 0.5),
    "west": (0.0, 0.5),
    "northeast": (1.0, 0.0),
    "northwest": (0.0, 0.0),
    "southeast": (1.0, 1.0),
    "southwest": (0.0, 1.0),
}


def output_size(size: tuple[int, int], resize: Resize | None) -> tuple[int, int]:
    """The displayed size of the output made from a source of displayed `size`."""
    return layout(size, resize)[0]


def layout(size: tuple[int, int], resize: Resize | None) -> tuple[tuple[int, int], Box | None]:
    """The output size, and the region of the source it shows (None: all of it)."""
    w, h = size
    if resize is None:
        return size, None
    if resize.width and resize.height and resize.fit != "contain":
        return _boxed(size, resize)
    scale = _scale(size, resize)
    if scale is None or (scale >= 1 and not resize.upscale):
        return size, None
    return (max(1, round(w * scale)), max(1, round(h * scale))), None


def held_small(size: tuple[int, int], resize: Resize | None) -> bool:
    """Whether `resize` asks a source of `size` for more pixels than it has,
    which it does not get without --upscale."""
    if resize is None or resize.upscale:
        return False
    w, h = size
    if resize.width and resize.height and resize.fit != "contain":
        bw, bh = resize.width, resize.height
        return bw > w or bh > h if resize.fit == "fill" else max(bw / w, bh / h) > 1
    scale = _scale(size, resize)
    return scale is not None and scale > 1


def _scale(size: tuple[int, int], resize: Resize) -> float | None:
    w, h = size
    if resize.long_edge:
        return resize.long_edge / max(w, h)
    if resize.short_edge:
        return resize.short_edge / min(w, h)
    if resize.scale:
        return resize.scale / 100
    scales = []
    if resize.width:
        scales.append(resize.width / w)
    if resize.height:
        scales.append(resize.height / h)
    return min(scales) if scales else None


def _boxed(size: tuple[int, int], resize: Resize) -> tuple[tuple[int, int], Box | None]:
    w, h = size
    bw, bh = resize.width or w, resize.height or h
    if resize.fit == "fill":
        if not resize.upscale:
            bw, bh = min(bw, w), min(bh, h)
        return (bw, bh), None
    # cover: the box's aspect ratio, filled edge to edge, the rest cropped.
    scale = max(bw / w, bh / h)
    if scale > 1 and not resize.upscale:
        # Keep the requested shape at the source's own resolution.
        k = min(w / bw, h / bh)
        bw, bh, scale = max(1, round(bw * k)), max(1, round(bh * k)), 1.0
    # At most the whole source: 700 / 0.7 is 1000.0000000000001, and a box
    # a hair outside the picture is one Pillow refuses.
    crop_w, crop_h = min(w, bw / scale), min(h, bh / scale)
    gx, gy = _GRAVITY[resize.gravity]
    left, top = (w - crop_w) * gx, (h - crop_h) * gy
    box = (left, top, left + crop_w, top + crop_h)
    return (bw, bh), (None if box == (0, 0, w, h) else box)


def decoded_size(size: tuple[int, int], out: tuple[int, int], box: Box | None) -> tuple[int, int]:
    """How large the whole source must be decoded so that `box` still yields
    `out` pixels: the size shrink-on-load may go down to."""
    if box is None:
        return out
    bw, bh = box[2] - box[0], box[3] - box[1]
    return (
        max(1, -(-out[0] * size[0] // max(1, round(bw)))),
        max(1, -(-out[1] * size[1] // max(1, round(bh)))),
    )


# How much of the reduction shrink-on-load leaves to Lanczos, at least. A
# JPEG decoded at 1/2 or 1/4 scale is shrunk by libjpeg's scaled IDCT,
# which aliases fine detail: decoded at about the output's size (800 px to
# 370, at 1/2), a zone plate came out at 21 dB against a full decode resized
# with Lanczos, and text at 25 dB; left 1.33 of it, 26 and 29 dB, and left
# 2.1, 36 and 34 dB. 1.3 keeps the half-size decode for 20 and 24 MP camera
# files to 2048 px (which leaves 1.34 and 1.46), the main reason it exists:
# it halves their time. Pillow's thumbnail() and libvips leave 2.
DRAFT_HEADROOM = 1.3


def draft_request(stored: tuple[int, int], target: tuple[int, int]) -> tuple[int, int] | None:
    """The size to ask JPEG `draft()` for so it decodes at the smallest DCT
    scale that still leaves Lanczos DRAFT_HEADROOM of the way to `target`
    (both in stored orientation).

    Asking with the target's own aspect ratio matters: a square box on a 3:2
    photo lets the short side veto any reduction. None when no reduction helps.
    """
    sw, sh = stored
    tw, th = (math.ceil(t * DRAFT_HEADROOM) for t in target)
    if tw * 2 > sw or th * 2 > sh:
        return None
    return tw, th


def draft_target(
    size: tuple[int, int], layouts: list[tuple[tuple[int, int], Box | None]]
) -> tuple[int, int]:
    """The size the whole source (of displayed `size`) must still have once
    decoded for every one of `layouts` to come out whole: the largest."""
    needed = [decoded_size(size, out, box) for out, box in layouts]
    return max(needed, key=lambda s: s[0] * s[1])


def jpeg_scale(stored: tuple[int, int], target: tuple[int, int]) -> int:
    """The DCT scale (1, 2, 4 or 8) a JPEG of `stored` size decodes at when
    drafted for `target` (draft_request's), by Pillow's rule. Both sizes may
    be taken upright instead: the rule is the same for width and height."""
    request = draft_request(stored, target)
    if request is None:
        return 1
    most = min(stored[0] // request[0], stored[1] // request[1])
    return next(scale for scale in (8, 4, 2, 1) if most >= scale)


def stored_size(displayed: tuple[int, int], orientation: int) -> tuple[int, int]:
    if orientation in TRANSPOSED_ORIENTATIONS:
        return displayed[1], displayed[0]
    return displayed


def stored_box(box: Box, displayed: tuple[int, int], orientation: int) -> Box:
    """Map a box on the upright picture to the same region of the stored pixels."""
    sw, sh = stored_size(displayed, orientation)
    x0, y0, x1, y1 = box
    corners = [_to_stored(x, y, sw, sh, orientation) for x, y in ((x0, y0), (x1, y1))]
    xs, ys = sorted(c[0] for c in corners), sorted(c[1] for c in corners)
    return xs[0], ys[0], xs[1], ys[1]


def _to_stored(x: float, y: float, sw: float, sh: float, orientation: int) -> tuple[float, float]:
    return {
        2: (sw - x, y),
        3: (sw - x, sh - y),
        4: (x, sh - y),
        5: (y, x),
        6: (y, sh - x),
        7: (sw - y, sh - x),
        8: (sw - y, x),
    }.get(orientation, (x, y))
