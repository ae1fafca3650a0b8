"""Figures and the widget of notebook 05 (every method side by side). Draws only what it is given.

Input: *rows*, one per method, as summarised by ``hrkd_lite.experiments.nb05.summarize`` (any object with
``key``, ``label``, ``group``, ``seeds``, ``acc`` = {domain or "average": per-seed accuracies in [0, 1]} and
the cost attributes named in :data:`METRICS`). Rows of group ``"l2a"`` have their own setting (a scarce
target domain) and are left out of the cross-method plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hrkd_lite.viz.common import ControlView

METRICS = {"params": "parameters (M)", "ms1": "latency @ batch 1 (ms, median)",
           "ms32": "latency @ batch 32 (ms, median)", "train_s": "training time of the run (s)",
           "memory": "peak memory added by the run (MB)"}
COLORS = {"reference": "black", "baseline": "C0", "method": "C3", "ablation": "C1"}


def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the points no other point dominates (lower or equal x AND higher or equal y, one strictly),
    sorted by x: the cost-accuracy trade-off curve."""
    pts = list(zip(xs, ys))
    keep = [i for i, (x, y) in enumerate(pts)
            if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for x2, y2 in pts)]
    return sorted(keep, key=lambda i: pts[i][0])


def _points(rows: Sequence[Any], metric: str) -> list[tuple[Any, float, float, float]]:
    """(row, x, mean accuracy %, sd %) of the rows that have the metric (cross-method rows only)."""
    out = []
    for r in rows:
        x = getattr(r, metric)
        if r.group == "l2a" or x is None:
            continue
        acc = 100 * np.asarray(r.acc["average"], dtype=float)
        out.append((r, float(x), float(acc.mean()), float(acc.std(ddof=1)) if acc.size > 1 else 0.0))
    return out


def draw_pareto(ax: Any, rows: Sequence[Any], metric: str) -> dict[str, Any]:
    """Average test accuracy against ``metric`` (log x when the costs span a decade or more; the y axis is fitted
    to the points and says where it starts), one point per method with a ± sd bar over seeds
    (none with one seed), the Pareto front as a dashed line. Returns what was plotted."""
    pts = _points(rows, metric)
    for r, x, y, sd in pts:
        ax.errorbar([x], [y], yerr=[sd] if len(r.seeds) > 1 else None, fmt="o", capsize=3,
                    color=COLORS.get(r.group, "C7"), ms=6 if r.group != "ablation" else 4)
        ax.annotate(r.label, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6.5)
    front = pareto_front([p[1] for p in pts], [p[2] for p in pts])
    if front:
        ax.plot([pts[i][1] for i in front], [pts[i][2] for i in front], "--", color="grey", lw=1, zorder=0)
    xs = [p[1] for p in pts]
    log_x = bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 10  # a log axis only over a decade or more
    if log_x:
        ax.set_xscale("log")
    y_from = float(ax.get_ylim()[0])
    if pts and y_from > 0:  # matplotlib fits the y range to the points: say where it starts
        ax.text(0.01, 0.99, f"y axis starts at {y_from:.0f}%, not 0", transform=ax.transAxes, fontsize=7,
                va="top", color="grey")
    seeds = sorted({len(p[0].seeds) for p in pts})
    ax.set_xlabel(METRICS[metric])
    ax.set_ylabel("average test accuracy (%)")
    ax.set_title(f"accuracy vs {METRICS[metric].split(' (')[0]} ({'/'.join(map(str, seeds))} seed(s); "
                 "bars: sd over seeds)", fontsize=9)
    return {"points": {p[0].key: (p[1], p[2], p[3]) for p in pts}, "front": [pts[i][0].key for i in front],
            "log_x": log_x, "y_from": y_from}


def plot_pareto(rows: Sequence[Any], metrics: Sequence[str] = ("params", "ms32"), title: str = "") -> Figure:
    """One panel per metric (:func:`draw_pareto`)."""
    fig = Figure(figsize=(6.2 * len(metrics), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, m in zip(axes, metrics):
        draw_pareto(ax, rows, m)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_costs(rows: Sequence[Any], title: str = "") -> Figure:
    """Measured training time, memory added and teacher forwards per run (horizontal bars, mean over seeds)."""
    keep = [r for r in rows if r.train_s is not None]
    fig = Figure(figsize=(13, 0.32 * len(keep) + 1.6), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    y = np.arange(len(keep))
    for ax, attr, label in zip(axes, ("train_s", "memory", "teacher_forwards"),
                               ("training time (s)", "peak memory added (MB)", "teacher forwards (examples)")):
        vals = [getattr(r, attr) or 0.0 for r in keep]
        ax.barh(y, vals, color=[COLORS.get(r.group, "C2") for r in keep])
        ax.set_xlabel(label)
        ax.invert_yaxis() if ax is axes[0] else None
    axes[0].set_yticks(y, [r.label for r in keep], fontsize=7)
    fig.suptitle(title or "what each run cost (measured around the run)", fontsize=10)
    return fig


class ComparisonView(ControlView):
    """Choose the data, the cost metric and the methods; the Pareto panel is redrawn from the rows.

    ``tables``: data name -> rows. ``current``: data, metric, shown method keys, plotted points
    ``{key: (x, mean, sd)}`` and the Pareto front.
    """

    def __init__(self, tables: Mapping[str, Sequence[Any]], metric: str = "params"):
        import ipywidgets as w

        self.tables = dict(tables)
        first = next(iter(self.tables.values()))
        keys = list(dict.fromkeys(r.key for rows in self.tables.values() for r in rows if r.group != "l2a"))
        labels = {r.key: r.label for rows in self.tables.values() for r in rows}
        self.data = w.Dropdown(options=list(self.tables), description="data")
        self.metric = w.Dropdown(options=[(v, k) for k, v in METRICS.items()], value=metric, description="cost")
        self.methods = w.SelectMultiple(options=[(labels[k], k) for k in keys],
                                        value=tuple(r.key for r in first if r.group in ("reference", "baseline",
                                                                                        "method")),
                                        rows=min(10, len(keys)), description="methods")
        super().__init__([self.data, self.metric, self.methods])
        self.update()

    def render(self) -> tuple[Figure, str, dict[str, Any]]:
        rows = [r for r in self.tables[self.data.value] if r.key in set(self.methods.value)]
        fig = Figure(figsize=(7.5, 4.6), layout="constrained")
        drawn = draw_pareto(fig.subplots(), rows, self.metric.value)
        labels = {r.key: r.label for r in rows}
        text = (f"{self.data.value}: {len(drawn['points'])} methods; on the Pareto front: "
                + ", ".join(labels[k] for k in drawn["front"]))
        return fig, text, {"data": self.data.value, "metric": self.metric.value,
                           "methods": list(self.methods.value), **drawn}
