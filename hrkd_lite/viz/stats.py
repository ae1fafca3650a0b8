"""Statistical drawing shared by the view modules, with seaborn's axes-level functions.

Every helper draws on an axes the caller owns (from ``viz.common.new_figure`` or a widget's Figure):
seaborn is only asked to draw, never to create figures, so no pyplot state is touched and the package
still renders every figure to PNG itself.

- :func:`heatmap`: a matrix with a colour bar, cells annotated with their values when small (≤ 10×10);
- :func:`seed_bars`: mean accuracy per run with an interval of ± one standard deviation over seeds
  (the spread :func:`hrkd_lite.noise.format_accuracy` prints), drawn by hand because seaborn's
  ``errorbar=`` cannot take precomputed bounds; a one-seed bar has no interval and says "1 seed";
- :func:`score_histogram`: a histogram with its kernel density estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import seaborn as sns

__all__ = ["ANNOTATE_MAX", "heatmap", "score_histogram", "seed_bars"]

ANNOTATE_MAX = 10  # annotate cells when both sides of the matrix are at most this long


def heatmap(ax: Any, mat: np.ndarray, rows: Sequence[str] | None = None, cols: Sequence[str] | None = None,
            title: str = "", vmin: float | None = None, vmax: float | None = None, cbar: bool = True,
            cmap: str = "viridis", fmt: str = ".2f", fontsize: int = 7, annot: bool | None = None) -> Any:
    """Draw ``mat`` (R, C) as a seaborn heatmap on ``ax``; NaN cells are left blank.

    Cells carry their value when ``annot`` (default: when R, C ≤ :data:`ANNOTATE_MAX`); a colour bar is
    added next to ``ax`` when ``cbar``. Returns ``ax``.
    """
    mat = np.asarray(mat, dtype=float)
    annot = max(mat.shape) <= ANNOTATE_MAX if annot is None else annot
    sns.heatmap(mat, ax=ax, vmin=vmin, vmax=vmax, cmap=cmap, cbar=cbar, square=False,
                annot=annot, fmt=fmt, annot_kws={"fontsize": fontsize},
                xticklabels=list(cols) if cols is not None else "auto",
                yticklabels=list(rows) if rows is not None else "auto")
    if cols is not None:
        ax.set_xticklabels(list(cols), rotation=60, ha="right", fontsize=fontsize)
    if rows is not None:
        ax.set_yticklabels(list(rows), rotation=0, fontsize=fontsize)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def seed_bars(ax: Any, names: Sequence[str], means: Sequence[float], sds: Sequence[float],
              seeds: Sequence[int]) -> list[tuple[float, float] | None]:
    """Bars of ``means`` (one per name) with ± ``sds`` where a run has ≥ 2 seeds; a one-seed bar is
    labelled "1 seed" and has no interval. Returns the drawn (low, high) per bar (None for one seed)."""
    names = [str(n) for n in names]
    sns.barplot(x=names, y=list(means), hue=names, palette=[f"C{i}" for i in range(len(names))],
                legend=False, errorbar=None, ax=ax)
    bounds: list[tuple[float, float] | None] = []
    for i, (m, s, k) in enumerate(zip(means, sds, seeds)):
        if int(k) >= 2:
            ax.errorbar(i, m, yerr=s, color="k", capsize=3, lw=1)
            bounds.append((m - s, m + s))
        else:
            ax.text(i, m, "1 seed", ha="center", va="bottom", fontsize=7)
            bounds.append(None)
    return bounds


def score_histogram(ax: Any, values: np.ndarray, bins: Any = 20, color: str = "C0", **kwargs: Any) -> Any:
    """A histogram of ``values`` with seaborn's kernel density estimate over it (KDE needs ≥ 2 distinct
    values; with fewer only the bars are drawn)."""
    values = np.asarray(values, dtype=float)
    kde = np.unique(values[np.isfinite(values)]).size >= 2
    sns.histplot(x=values, bins=bins, kde=kde, color=color, ax=ax, **kwargs)
    return ax
