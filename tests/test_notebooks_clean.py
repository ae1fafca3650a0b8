"""Committed notebooks carry no outputs, execution counts or widget state; each starts with a set-up cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrkd_lite.nbclean import notebook_problems, notebooks, strip

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
ALL = notebooks(NB_DIR)


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_notebook_is_stripped(path: Path):
    nb = json.loads(path.read_text())
    assert notebook_problems(nb) == [], f"{path.name}: run `make strip`"


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_first_code_cell_sets_up(path: Path):
    nb = json.loads(path.read_text())
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    src = "".join(first["source"])
    assert "google.colab" in src, "first code cell installs the package on Colab only"
    assert "get_profile" in src and "seed" in src and "device" in src.lower()
    assert "pip install" not in src.replace("%pip install", "") or "torch" not in src.split("pip install")[1]


def test_checker_catches_outputs_and_widgets():
    nb = {"cells": [{"cell_type": "code", "source": [], "outputs": [{"x": 1}], "execution_count": 3,
                     "metadata": {}}], "metadata": {"widgets": {"state": {}}}}
    assert len(notebook_problems(nb)) == 3
    nb["cells"][0]["metadata"] = {"execution": {"iopub.status.busy": "x"}, "tags": ["keep"]}
    nb["cells"][0]["id"] = "cell-a"
    clean = strip(nb)  # nbstripout: outputs, counts, widget state and timings go; ids and tags stay
    assert notebook_problems(clean) == []
    assert clean["cells"][0]["metadata"] == {"tags": ["keep"]} and clean["cells"][0]["id"] == "cell-a"
