"""Notebook 01 follows the house rules: short code cells, no ``def``, no private paths, static after widgets."""

from __future__ import annotations

import json
from pathlib import Path

NB = Path(__file__).resolve().parents[1] / "notebooks" / "01_adabert.ipynb"


def _cells() -> list[dict]:
    return json.loads(NB.read_text())["cells"]


def test_code_cells_are_short_and_define_nothing():
    code = [c for c in _cells() if c["cell_type"] == "code"]
    for c in code[1:]:
        src = "".join(c["source"])
        assert len([line for line in src.splitlines() if line.strip()]) <= 15, src[:80]
        assert "def " not in src and "lambda" not in src.replace("lambda step:", "")
    assert all("shared/" not in "".join(c["source"]) for c in _cells())


def test_every_widget_cell_is_followed_by_a_static_figure():
    cells = _cells()
    for i, c in enumerate(cells):
        src = "".join(c["source"])
        if c["cell_type"] == "code" and "Widget(" in src:
            nxt = next(d for d in cells[i + 1:] if d["cell_type"] == "code")
            assert "show_static(" in "".join(nxt["source"]), src[:60]
