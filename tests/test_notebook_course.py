"""Notebooks read like a course: a map at the top, exercises with running solutions, short cells, no defs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = sorted(p.name for p in NOTEBOOKS.glob("0*.ipynb"))


def _cells(name: str):
    return nbformat.read(NOTEBOOKS / name, as_version=4).cells


@pytest.mark.parametrize("name", COURSE)
def test_code_cells_are_short_and_define_nothing(name):
    code = [c.source for c in _cells(name) if c.cell_type == "code"]
    for i, src in enumerate(code[1:], start=2):  # the first code cell (set-up) may be longer
        lines = [ln for ln in src.splitlines() if ln.strip()]
        assert len(lines) <= 15, f"{name}: code cell {i} has {len(lines)} non-blank lines"
        assert not any(ln.lstrip().startswith(("def ", "class ")) for ln in lines), f"{name}: code cell {i} defines"


@pytest.mark.parametrize("name", COURSE)
def test_map_exercises_and_reading_list(name):
    cells = _cells(name)
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    for needle in ("**Prerequisites.**", "**Contents.**", "**Runtime**", "Reading list", "Summary"):
        assert needle in text, f"{name}: no {needle!r}"
    exercises = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "predict, then run" in c.source]
    assert exercises, f"{name}: no exercises"
    for i in exercises:  # solutions collapsed, then a cell that runs them
        assert "<details>" in cells[i].source and "</details>" in cells[i].source
        assert cells[i + 1].cell_type == "code" and cells[i + 1].source.strip()


@pytest.mark.parametrize("name", COURSE)
def test_no_path_outside_the_repository(name):
    text = "\n".join(c.source for c in _cells(name))
    for bad in ("shared/methods", "../shared", "/work/"):
        assert bad not in text, f"{name} mentions {bad!r}"
