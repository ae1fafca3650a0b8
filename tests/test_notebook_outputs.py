"""What a reader sees: figures arrive as images and every widget's Output holds one, in a kernel started
the way a user's is (no ``MPLBACKEND=Agg``, inline backend never activated).

The course notebooks get the same checks while nbval runs them (``tests/nbval_outputs.py`` in ``make
notebooks``); here nbclient executes the widgets-only demo notebook with stored widget state, as a saved
notebook or a front end would hold it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from tests.notebook_checks import outputs_without_image, stored_widget_models, text_figures
from tests.widget_demo import WIDGETS, write_demo

REPO = Path(__file__).resolve().parents[1]


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run a notebook in a fresh python3 kernel without ``MPLBACKEND``, keeping the widget state."""
    from nbclient import NotebookClient

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    return nb


def test_checks_tell_an_image_from_a_figure_shown_as_text():
    png = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure size 1x1>"}}
    text = {"output_type": "display_data", "data": {"text/plain": "<Figure size 500x460 with 1 Axes>"}}
    result = {"output_type": "execute_result", "data": {"text/plain": "<matplotlib.figure.Figure at 0x7f>"}}
    assert text_figures([png]) == []
    assert text_figures([png, text, result]) == ["<Figure size 500x460 with 1 Axes>", "<matplotlib.figure.Figure at 0x7f>"]
    models = {"a": {"_model_name": "OutputModel", "outputs": [png]}, "b": {"_model_name": "OutputModel", "outputs": [text]},
              "c": {"_model_name": "OutputModel", "outputs": []}, "d": {"_model_name": "IntSliderModel"}}
    assert outputs_without_image(models) == ["b", "c"]


def test_every_cell_has_an_id():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        assert all("id" in c for c in cells), f"{path.name}: a cell without an id (nbformat 4.5 needs one)"


@pytest.mark.slow
def test_every_widget_shows_an_image_in_a_fresh_kernel(tmp_path):
    nb = execute(write_demo(tmp_path))
    assert [text_figures(c.get("outputs", [])) for c in nb.cells] == [[]] * len(nb.cells)
    models = stored_widget_models(nb)
    outputs = [k for k, m in models.items() if m.get("_model_name") == "OutputModel"]
    assert len(outputs) == len(WIDGETS)
    assert outputs_without_image(models) == []


@pytest.mark.slow
def test_the_checks_see_a_bare_figure_in_a_fresh_kernel(tmp_path):
    """The defect is real in a user's kernel: ``display(Figure)`` gives text, in a cell or an Output."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as w\nfrom IPython.display import display\nfrom matplotlib.figure import Figure\n"
        "fig = Figure()\nfig.subplots()\ndisplay(fig)\nout = w.Output()\nwith out:\n    display(fig)\nout")]
    nbformat.write(nb, tmp_path / "bare.ipynb")
    nb = execute(tmp_path / "bare.ipynb", timeout=120)
    assert any(t.startswith("<Figure size") for t in text_figures(nb.cells[0].outputs))
    assert len(outputs_without_image(stored_widget_models(nb))) == 1


@pytest.mark.slow
def test_the_nbval_plugin_fails_what_a_reader_would_not_see(tmp_path):
    """``make notebooks`` runs nbval with ``-p tests.nbval_outputs``: it must fail a figure shown as text and
    a widget Output left without an image, and pass the package's way of showing both."""
    import subprocess
    import sys

    head = ("import ipywidgets as w\nfrom IPython.display import display\nfrom matplotlib.figure import Figure\n"
            "from hrkd_lite.viz.common import render_into, show_static\nfig = Figure()\nfig.subplots()\n")
    cases = {"text_figure": head + "display(fig)", "empty_output": head + "w.Output()",
             "good": head + "show_static(fig)\nout = w.Output()\nrender_into(out, fig)\nout"}
    for name, code in cases.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(code)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "--nbval-lax", "-p", "tests.nbval_outputs",
                          "-p", "no:cacheprovider", f"--rootdir={tmp_path}", *sorted(map(str, tmp_path.glob("*.ipynb")))],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert "2 failed, 1 passed" in run.stdout, run.stdout[-2000:]
    assert "a figure is shown as text" in run.stdout and "hold no image" in run.stdout
