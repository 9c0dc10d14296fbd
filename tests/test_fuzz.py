"""Mutated bytes of every format go through the real pipeline: a result
always comes back, never an exception, never a stray file."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzz_seeds import seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgpar.pipeline import configure_worker, convert_file
from imgpar.spec import ConvertSpec, OutputSpec, Resize, Task

SEEDS = seeds()
SPEC = ConvertSpec(
    outputs=(OutputSpec(target="webp", resize=Resize(width=16, height=16)),),
    max_pixels=4_000_000,
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    ext = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[ext])
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=32))
    return ext, bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_always_give_a_result(case: tuple[str, bytes]) -> None:
    ext, data = case
    configure_worker(SPEC)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"fuzz{ext}"
        source.write_bytes(data)
        out = Path(folder) / "out.webp"
        task = Task(
            source=str(source), display=source.name, outputs=(str(out),), source_bytes=len(data)
        )
        result = convert_file(task, SPEC)
        assert result.status in ("converted", "failed")
        if result.status == "failed":
            assert result.error and "\n" not in result.error
            assert not out.exists()
        else:
            assert out.stat().st_size == result.outputs[0].bytes
        assert sorted(p.name for p in Path(folder).iterdir()) in (
            [source.name],
            sorted([source.name, out.name]),
        )
