"""The committed figures: every figure a notebook saves under a literal name is in ``figures/`` (from a
``cpu``-profile run), named by its notebook; nothing unprefixed is left from older layouts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hrkd_lite.colab import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
NAME = re.compile(r"""["'](0[0-5]_[A-Za-z0-9_]+)["']""")
# drawn only when the Amazon folder is present (the committed cpu runs use synthetic data)
NEEDS_AMAZON = {"05_pareto_amazon"}


def saved_names(notebook: str) -> set[str]:
    """Figure names written in the notebook's code cells (string literals "NN_..."; not the notebook's own name)."""
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return set(NAME.findall(code)) - set(NOTEBOOKS)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_named_figure_of_a_notebook_is_committed(notebook):
    names = saved_names(notebook)
    assert names, f"{notebook} saves no named figure"
    missing = sorted(n for n in names - NEEDS_AMAZON if not (FIGURES / f"{n}.png").is_file())
    assert not missing, f"{notebook}: not in figures/: {missing}"


def test_figures_are_named_by_notebook():
    prefixes = tuple(f"{nb[:2]}_" for nb in NOTEBOOKS) + ("demo_",)  # demo_: `make demo`
    stray = sorted(p.name for p in FIGURES.iterdir() if not p.name.startswith(prefixes))
    assert not stray, f"figures without a notebook prefix: {stray}"
