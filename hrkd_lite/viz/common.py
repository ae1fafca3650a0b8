"""Plotting helpers shared by the notebooks' view modules.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot state), so they work under any
backend and never display twice. There is ONE way to show a figure, and it never hands a bare ``Figure``
to ``display()`` (that shows ``<Figure size ...>`` text in a kernel whose inline backend was never
activated, the default in a fresh JupyterLab kernel): the package renders the PNG itself.

- a notebook cell: :func:`show_static` (a static PNG that survives in saved notebooks and under nbval;
  also writes the README copy into ``figures/`` when named);
- a widget: :func:`render_into` puts the PNG into an ``ipywidgets.Output`` by setting its ``outputs``
  (synced widget state, so it works the same in JupyterLab, classic Notebook, VS Code, Colab, in saved
  widget state, and headlessly under pytest); :func:`output_png` reads it back.

Paths: ``figures/`` and ``runs/`` live at the repository root when the code runs from a checkout
(found by walking up to ``pyproject.toml`` + ``hrkd_lite/``), else under the current folder (Colab).
``$HRKD_FIGURES_DIR`` / ``$HRKD_RUNS_DIR`` override them.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from hrkd_lite.utils import atomic_write_bytes

__all__ = [
    "ControlView", "ValueView", "figure_png", "figures_dir", "in_kernel", "markdown_table", "new_figure",
    "output_png", "png_output",
    "render_into", "repo_root", "runs_dir", "save_figure", "show_markdown", "show_static",
]


def repo_root(start: str | Path | None = None) -> Path | None:
    """The checkout holding ``pyproject.toml`` and ``hrkd_lite/`` at or above ``start`` (default cwd)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "hrkd_lite").is_dir():
            return folder
    return None


def figures_dir() -> Path:
    """Where README figures go: ``$HRKD_FIGURES_DIR``, else ``<repo>/figures``, else ``./figures``."""
    env = os.environ.get("HRKD_FIGURES_DIR")
    root = repo_root()
    path = Path(env) if env else (root / "figures" if root else Path("figures"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir(name: str) -> Path:
    """A run folder ``<runs>/<name>``: ``$HRKD_RUNS_DIR``, else ``<repo>/runs``, else ``./runs``."""
    env = os.environ.get("HRKD_RUNS_DIR")
    root = repo_root()
    base = Path(env) if env else (root / "runs" if root else Path("runs"))
    return base / name


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (8, 4), **kwargs: Any):
    """``(fig, axes)`` like ``plt.subplots`` but without pyplot (no global state, no double display)."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=kwargs.pop("squeeze", True), **kwargs)
    return fig, axes


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure rendered as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_figure(fig: Figure, name: str, dpi: int = 110, folder: str | Path | None = None) -> Path:
    """Write ``fig`` atomically to ``<figures>/<name>`` (``.png`` added when missing); returns the path."""
    path = Path(folder) if folder is not None else figures_dir()
    target = path / (name if name.endswith(".png") else f"{name}.png")
    atomic_write_bytes(target, figure_png(fig, dpi))
    return target


def in_kernel() -> bool:
    """True inside a Jupyter/IPython kernel (so widgets and rich display work)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_static(fig: Figure, name: str | None = None, dpi: int = 110) -> None:
    """Show ``fig`` as a static PNG (kept in saved notebooks); also save it as ``figures/<name>`` if named.

    Outside a kernel (scripts, pytest) nothing is displayed. Returns None, so a notebook cell that ends
    with it prints nothing more (use :func:`save_figure` for the path).
    """
    path = save_figure(fig, name, dpi) if name else None
    if in_kernel():
        from IPython.display import Image, display

        display(Image(data=figure_png(fig, dpi)))
        if path is not None:
            print(f"saved {path}")


def png_output(png: bytes) -> dict[str, Any]:
    """A Jupyter ``display_data`` output (nbformat dict) holding ``png``."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": "<PNG image>"}}


def render_into(out: Any, fig: Figure, dpi: int = 90) -> bytes:
    """Replace the content of an ``ipywidgets.Output`` with ``fig`` rendered as PNG; returns the bytes.

    Sets the widget's synced ``outputs`` state instead of capturing ``display()`` calls, so the image
    reaches every front end, is kept in saved widget state, and is readable without a kernel
    (:func:`output_png`).
    """
    png = figure_png(fig, dpi)
    out.outputs = (png_output(png),)
    return png


def output_png(out: Any) -> bytes | None:
    """The PNG an ``ipywidgets.Output`` (or its ``outputs`` tuple) shows last, or None when it holds none."""
    outputs = out if isinstance(out, list | tuple) else out.outputs
    for o in reversed(outputs):
        data = o.get("data", {}).get("image/png")
        if data:
            return base64.b64decode(data)
    return None


class ControlView:
    """Controls, a text line and an ``Output``: every change of any control re-runs :meth:`render` and
    shows its figure as a PNG (:func:`render_into`), so the view recomputes rather than filters.

    Subclasses implement ``render() -> (Figure, text, current)``; ``current`` is the state the tests read,
    ``png`` the bytes shown last. ``control`` is the first control (views with a single one).
    """

    def __init__(self, controls: Any) -> None:
        import ipywidgets as w

        self.controls = list(controls) if isinstance(controls, list | tuple) else [controls]
        self.control = self.controls[0]
        self.out = w.Output()
        self.text = w.HTML()
        self.current: dict[str, Any] = {}
        self.png = b""
        for c in self.controls:
            c.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox(self.controls), self.text, self.out])

    def render(self) -> tuple[Figure, str, dict[str, Any]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def update(self) -> None:
        fig, text, self.current = self.render()
        self.text.value = f"<pre>{text}</pre>"
        self.png = render_into(self.out, fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class ValueView(ControlView):
    """A :class:`ControlView` of one control: subclasses implement ``render_value(value)``."""

    def render(self) -> tuple[Figure, str, dict[str, Any]]:
        return self.render_value(self.control.value)

    def render_value(self, value: Any) -> tuple[Figure, str, dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; cells are converted with ``str``."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def show_markdown(text: str) -> None:
    """Render Markdown in a kernel; print it elsewhere."""
    if in_kernel():
        from IPython.display import Markdown, display

        display(Markdown(text))
    else:
        print(text)
