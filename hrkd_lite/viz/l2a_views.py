"""Figures and widgets of notebook 02 (L2A-style reconstruction). Draws only: every number comes from the
runs (``hrkd_lite.experiments.nb02``) and the mechanism a widget recomputes is passed in as a callable.

Static figures return a ``matplotlib.figure.Figure`` (show with ``viz.common.show_static``). Widgets keep
what they last drew in ``.current`` so tests set ``.value`` on a control and check the result headlessly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hrkd_lite.viz.common import ControlView

STYLE = {"teacher (source+target)": ("black", "s", "--"), "teacher (target)": ("grey", "s", ":"),
         "student, no KD": ("C7", "o", "-"), "KD, target only": ("C0", "o", "-"),
         "KD + random augmentation": ("C1", "^", "-"), "KD + learned selection (L2A-style)": ("C3", "D", "-")}


def plot_accuracy_vs_labels(summary: Mapping[str, Mapping[int, tuple[float, float, int]]],
                            target: str = "target") -> Figure:
    """Target test accuracy against the number of target labels, mean ± sd over seeds (error bars)."""
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for method, cells in summary.items():
        ns = sorted(cells)
        mean = np.array([cells[n][0] for n in ns])
        sd = np.array([cells[n][1] for n in ns])
        seeds = min(cells[n][2] for n in ns)
        color, marker, ls = STYLE.get(method, ("C9", "x", "-"))
        label = f"{method} ({seeds} seed{'s' if seeds > 1 else ''})"
        ax.errorbar(ns, mean, yerr=sd if seeds > 1 else None, color=color, marker=marker, ls=ls, capsize=3,
                    label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({n for c in summary.values() for n in c}))
    ax.get_xaxis().set_major_formatter("{x:.0f}")
    ax.set_xlabel("labelled target training examples N")
    ax.set_ylabel(f"test accuracy on {target}")
    ax.set_title("Accuracy vs number of target labels (error bars: sd over seeds)", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def plot_chain(trace: Any, width: int = 16) -> Figure:
    """One sentence through steps 0..t: masked positions boxed, changed word pieces in red."""
    toks = trace.tokens
    rows = []
    for k, step in enumerate(toks):
        for lo in range(0, len(step), width):
            rows.append((k, lo, step[lo:lo + width]))
    fig = Figure(figsize=(11, 0.42 * len(rows) + 0.8), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_xlim(0, width * 7 + 6)
    ax.set_ylim(len(rows), -1)
    for r, (k, lo, piece) in enumerate(rows):
        if lo == 0:
            ax.text(0, r, f"t={k}", fontsize=8, family="monospace", va="center", weight="bold")
        x = 6.0
        for j, tok in enumerate(piece):
            i = lo + j
            red = trace.changed[k][i]
            box = {"facecolor": "none", "edgecolor": "C0", "lw": 0.8} if trace.masked[k][i] else None
            ax.text(x, r, tok[:9], fontsize=7.5, family="monospace", va="center", color="C3" if red else "black",
                    weight="bold" if red else "normal", bbox=box)
            x += 7
    n_changed = [sum(c) for c in trace.changed[1:]]
    ax.set_title(f"mask-and-refill chain, ρ = {trace.rho:g}: changed tokens per step {n_changed} of "
                 f"{len(toks[0])} (red = changed, box = masked)", fontsize=9)
    return fig


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Rows (N, H) projected on their first two principal axes, (N, 2)."""
    c = x - x.mean(0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    return c @ vt[:2].T


def plot_keep_map(m: Mapping[str, np.ndarray]) -> Figure:
    """PCA of the teacher's mean hidden states: source (grey), target train (black), generated (keep prob)."""
    parts = [m["source"], m["target"], m["generated"]]
    xy = pca_2d(np.concatenate(parts))
    a, b = len(parts[0]), len(parts[0]) + len(parts[1])
    fig = Figure(figsize=(6.8, 5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(xy[:a, 0], xy[:a, 1], s=10, color="0.75", label=f"source train ({a})")
    sc = ax.scatter(xy[b:, 0], xy[b:, 1], s=16, c=m["keep_prob"], cmap="viridis", vmin=0, vmax=1,
                    marker="^", label=f"generated ({len(parts[2])})")
    ax.scatter(xy[a:b, 0], xy[a:b, 1], s=28, color="black", marker="x", label=f"target train ({b - a})")
    fig.colorbar(sc, ax=ax, label="selector keep probability (final φ)")
    ax.set_title("Source, target and generated sentences (PCA of teacher features)", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def _band(ax, y: np.ndarray, sd: np.ndarray, color: str, label: str) -> None:
    x = np.arange(1, len(y) + 1)
    ax.plot(x, y, color=color, label=label)
    ax.fill_between(x, y - sd, y + sd, color=color, alpha=0.2)


def plot_episodes(stats: Mapping[str, np.ndarray], n: int) -> Figure:
    """Reward and keep rate per episode (learned vs random) and the selector weights φ, mean ± sd over seeds."""
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    ax = fig.subplots(1, 3)
    seeds = int(stats["seeds"])
    for mode, color in (("learned", "C3"), ("random", "C1")):
        _band(ax[0], stats[f"{mode}_reward_mean"], stats[f"{mode}_reward_sd"], color, mode)
        _band(ax[1], stats[f"{mode}_keep_rate_mean"], stats[f"{mode}_keep_rate_sd"], color, mode)
    ax[0].axhline(0, color="black", lw=0.6)
    ax[0].set_title("reward: dev-loss decrease per episode", fontsize=9)
    ax[1].set_title("keep rate (share of shown candidates kept)", fontsize=9)
    ax[1].set_ylim(0, 1)
    phi, sd = stats["learned_phi_mean"], stats["learned_phi_sd"]
    for j, name in enumerate(stats["features"]):
        _band(ax[2], phi[:, j], sd[:, j], f"C{j}", str(name))
    ax[2].set_title("selector weights φ (learned)", fontsize=9)
    for a in ax:
        a.set_xlabel("episode")
        a.legend(fontsize=6)
    fig.suptitle(f"N = {n}, mean ± sd over {seeds} seed{'s' if seeds > 1 else ''}", fontsize=10)
    return fig


def plot_leak(rows: Sequence[tuple]) -> Figure:
    """Max and mean 4-gram overlap with dev/test: generated candidates vs the target's real train sentences."""
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.subplots()
    labels = [f"N={r[0]} s{r[1]}" for r in rows]
    x = np.arange(len(rows))
    vals = np.array([[float(r[5]), float(r[6]), float(r[7]), float(r[8])] for r in rows])
    names = ["generated max", "generated mean", "real target train max", "real target train mean"]
    for j, (name, col) in enumerate(zip(names, ("C3", "salmon", "black", "grey"))):
        ax.bar(x + (j - 1.5) * 0.2, vals[:, j], width=0.2, color=col, label=name)
    ax.set_xticks(x, labels, fontsize=7, rotation=30)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of 4-grams found in dev/test")
    ax.set_title("Leak check: n-gram overlap with the target's dev and test sentences", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def plot_mode_curves(stats: Mapping[str, np.ndarray], mode: str) -> Figure:
    """Dev accuracy and keep rate per episode of one student mode (mean ± sd over seeds)."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.subplots(1, 2)
    _band(ax[0], stats[f"{mode}_dev_acc_mean"], stats[f"{mode}_dev_acc_sd"], "C3" if mode == "learned" else "C1", mode)
    _band(ax[1], stats[f"{mode}_keep_rate_mean"], stats[f"{mode}_keep_rate_sd"], "C3" if mode == "learned" else "C1",
          mode)
    ax[0].set_title(f"{mode}: target dev accuracy", fontsize=9)
    ax[1].set_title(f"{mode}: keep rate", fontsize=9)
    ax[1].set_ylim(0, 1)
    for a in ax:
        a.set_xlabel("episode")
    return fig


# ------------------------------------------------------------------ widgets

_Widget = ControlView  # controls + text + Output, redrawn on every change


class ChainWidget(_Widget):
    """ρ and t sliders; each change calls ``regenerate(rho, steps)`` (a chain walked by the saved generator)."""

    def __init__(self, regenerate: Callable[[float, int], Any], rho: float = 0.15, steps: int = 5) -> None:
        import ipywidgets as w

        self.regenerate = regenerate
        self.rho = w.FloatSlider(value=rho, min=0.05, max=0.6, step=0.05, description="ρ")
        self.steps = w.IntSlider(value=steps, min=0, max=8, description="t")
        super().__init__([self.rho, self.steps])
        self.update()

    def render(self):
        trace = self.regenerate(float(self.rho.value), int(self.steps.value))
        per_step = [sum(c) for c in trace.changed[1:]]
        n = len(trace.tokens[0])
        cur = {"rho": trace.rho, "steps": trace.steps, "changed_per_step": per_step, "tokens": n,
               "masked_per_step": [sum(m) for m in trace.masked[1:]], "final": trace.tokens[-1]}
        text = f"ρ = {trace.rho:g}, t = {trace.steps}: changed per step {per_step} of {n} word pieces"
        return plot_chain(trace), text, cur


class ModeWidget(_Widget):
    """Toggle the selector on (learned) / off (random augmentation): dev accuracy and keep rate per episode."""

    def __init__(self, stats: Mapping[str, np.ndarray]) -> None:
        import ipywidgets as w

        self.stats = stats
        self.mode = w.ToggleButtons(options=[("selector on (learned)", "learned"), ("selector off (random)", "random")],
                                    value="learned")
        super().__init__([self.mode])
        self.update()

    def render(self):
        m = self.mode.value
        acc, keep = self.stats[f"{m}_dev_acc_mean"], self.stats[f"{m}_keep_rate_mean"]
        cur = {"mode": m, "final_dev_acc": float(acc[-1]), "mean_keep_rate": float(np.nanmean(keep))}
        text = f"{m}: final dev accuracy {acc[-1]:.3f}, mean keep rate {np.nanmean(keep):.2f} (mean over seeds)"
        return plot_mode_curves(self.stats, m), text, cur
