"""imgpar.geometry: output sizes and shrink-on-load requests (pure arithmetic)."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from imgpar.geometry import draft_request, jpeg_scale, layout, output_size, stored_size
from imgpar.spec import GRAVITIES, Gravity, Resize

sides = st.integers(min_value=1, max_value=20_000)
boxes = st.integers(min_value=1, max_value=5_000)


@pytest.mark.parametrize(
    ("size", "resize", "expected"),
    [
        ((6000, 4000), None, (6000, 4000)),
        ((6000, 4000), Resize(), (6000, 4000)),
        ((6000, 4000), Resize(width=2048, height=2048), (2048, 1365)),
        ((4000, 6000), Resize(width=2048, height=2048), (1365, 2048)),
        ((6000, 4000), Resize(width=300), (300, 200)),
        ((6000, 4000), Resize(height=300), (450, 300)),
        ((6000, 4000), Resize(width=3000, height=1000), (1500, 1000)),
        ((1000, 1), Resize(width=10, height=10), (10, 1)),
        ((1, 1000), Resize(width=10, height=10), (1, 10)),
        ((5000, 2), Resize(width=10, height=10), (10, 1)),  # never 0 pixels
    ],
)
def test_output_size(
    size: tuple[int, int], resize: Resize | None, expected: tuple[int, int]
) -> None:
    assert output_size(size, resize) == expected


@pytest.mark.parametrize(
    "resize",
    [
        Resize(width=1000, height=1000),
        Resize(width=1000),
        Resize(height=1000),
        Resize(width=640, height=480),
    ],
)
def test_output_size_never_enlarges(resize: Resize) -> None:
    assert output_size((640, 480), resize) == (640, 480)
    assert output_size((64, 48), resize) == (64, 48)


def test_output_size_enlarges_only_when_asked() -> None:
    assert output_size((64, 48), Resize(width=128, upscale=True)) == (128, 96)


@given(w=sides, h=sides, bw=boxes, bh=boxes)
def test_output_size_stays_inside_the_box_and_keeps_aspect(
    w: int, h: int, bw: int, bh: int
) -> None:
    fw, fh = output_size((w, h), Resize(width=bw, height=bh))
    assert 1 <= fw <= w
    assert 1 <= fh <= h
    assert fw <= bw or (fw, fh) == (w, h)
    assert fh <= bh or (fw, fh) == (w, h)
    if (fw, fh) != (w, h):
        # One side touches the box, and the aspect ratio holds to rounding.
        assert fw == bw or fh == bh
        if fw > 1 and fh > 1:  # (a side clamped to 1 pixel has no ratio to keep)
            assert abs(fw * h - fh * w) <= (w + h) / 2 + 1


@given(w=sides, h=sides, bw=boxes)
def test_output_size_width_only_leaves_height_free(w: int, h: int, bw: int) -> None:
    fw, fh = output_size((w, h), Resize(width=bw))
    assert fw == min(w, bw)
    assert fh <= h


@pytest.mark.parametrize(
    ("displayed", "orientation", "stored"),
    [
        ((200, 300), 1, (200, 300)),
        ((200, 300), 2, (200, 300)),
        ((200, 300), 3, (200, 300)),
        ((200, 300), 4, (200, 300)),
        ((200, 300), 5, (300, 200)),
        ((200, 300), 6, (300, 200)),
        ((200, 300), 7, (300, 200)),
        ((200, 300), 8, (300, 200)),
        ((200, 300), 0, (200, 300)),  # missing or invalid: as stored
    ],
)
def test_stored_size(displayed: tuple[int, int], orientation: int, stored: tuple[int, int]) -> None:
    assert stored_size(displayed, orientation) == stored
    assert stored_size(stored_size(displayed, orientation), orientation) == displayed


def test_draft_request_asks_for_the_aspect_correct_target() -> None:
    # A 6000 x 4000 photo fitted into 2048 x 2048 is 2048 x 1365: that allows
    # 1/2 (4000 // 1365 = 2), where the square box would allow only 1/1.
    # Asked for with Lanczos' share of the reduction (1.3) on top.
    assert draft_request((6000, 4000), (1000, 667)) == (1300, 868)
    assert draft_request((6000, 4000), (2048, 1365)) == (2663, 1775)
    assert jpeg_scale((6000, 4000), (2048, 1365)) == 2
    assert jpeg_scale((5472, 3648), (2048, 1365)) == 2  # a 20 MP camera's
    # Decoded at about the output's size, fine detail aliased: not any more.
    assert jpeg_scale((8192, 5464), (2048, 1366)) == 2
    assert jpeg_scale((800, 600), (370, 278)) == 1


@pytest.mark.parametrize(
    ("stored", "target"),
    [
        ((6000, 4000), (6000, 4000)),
        ((6000, 4000), (3001, 2001)),
        ((6000, 4000), (2400, 1600)),  # 1/2 would leave Lanczos only 1.25
        ((6000, 4000), (4000, 1000)),  # one side does not halve
        ((64, 48), (64, 48)),
    ],
)
def test_draft_request_none_when_no_reduction_helps(
    stored: tuple[int, int], target: tuple[int, int]
) -> None:
    assert draft_request(stored, target) is None


@given(sw=sides, sh=sides, tw=sides, th=sides)
def test_draft_request_never_asks_below_target_or_above_half(
    sw: int, sh: int, tw: int, th: int
) -> None:
    request = draft_request((sw, sh), (tw, th))
    if request is None:
        assert math.ceil(tw * 1.3) * 2 > sw or math.ceil(th * 1.3) * 2 > sh
    else:
        assert request[0] >= tw * 1.3 and request[1] >= th * 1.3
        assert request[0] * 2 <= sw and request[1] * 2 <= sh


def _jpeg(size: tuple[int, int]) -> Image.Image:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buf, "JPEG")
    buf.seek(0)
    return Image.open(buf)


@pytest.mark.parametrize(
    ("stored", "target", "scale"),
    [
        ((400, 300), (100, 75), 2),  # 1/4 would leave Lanczos nothing to do
        ((400, 300), (38, 30), 4),  # 400 // 50 = 8 but 300 // 39 = 7: 1/4
        ((400, 264), (100, 66), 2),
        ((400, 300), (150, 112), 2),
        ((400, 300), (30, 22), 8),
    ],
)
def test_draft_request_gets_the_smallest_dct_scale_leaving_lanczos_its_share(
    stored: tuple[int, int], target: tuple[int, int], scale: int
) -> None:
    request = draft_request(stored, target)
    assert request is not None
    with _jpeg(stored) as im:
        im.draft("RGB", request)
        assert im.size == (-(-stored[0] // scale), -(-stored[1] // scale))
        assert im.width >= target[0] * 1.3 and im.height >= target[1] * 1.3
    # The planner's forecast of that scale (which kept outputs depend on),
    # from the upright sizes as well as the stored ones.
    assert jpeg_scale(stored, target) == scale == jpeg_scale(stored[::-1], target[::-1])


def test_no_reduction_is_scale_one() -> None:
    assert draft_request((400, 300), (201, 100)) is None
    assert jpeg_scale((400, 300), (201, 100)) == 1


def test_square_box_would_lose_the_reduction_on_a_3_2_photo() -> None:
    """Why draft_request takes the fitted target, not the box: with a 600 x 396
    photo fitted into 200 x 200, the square box (with Lanczos' share, 260 x
    260) only allows 1/1 (396 // 260 = 1) while the real target 200 x 132
    allows 1/2."""
    target = output_size((600, 396), Resize(width=200, height=200))
    assert target == (200, 132)
    request = draft_request((600, 396), target)
    assert request == (260, 172)
    with _jpeg((600, 396)) as im:
        im.draft("RGB", request)
        assert im.size == (300, 198)
    with _jpeg((600, 396)) as im:
        im.draft("RGB", (260, 260))
        assert im.size == (600, 396)


@given(w=sides, h=sides, bw=boxes, bh=boxes, gravity=st.sampled_from(GRAVITIES))
def test_a_cover_crop_stays_inside_the_picture(
    w: int, h: int, bw: int, bh: int, gravity: Gravity
) -> None:
    _, box = layout((w, h), Resize(width=bw, height=bh, fit="cover", gravity=gravity))
    if box is not None:
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_a_cover_crop_that_float_rounding_pushed_outside() -> None:
    # 700 / 0.7 is 1000.0000000000001: the crop began a hair above the top.
    _, box = layout((750, 1000), Resize(width=300, height=700, fit="cover"))
    assert box is not None and box[1] == 0 and box[3] == 1000
