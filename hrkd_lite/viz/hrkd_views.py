"""Plots and widgets of notebook 04 (HRKD), all drawn from a run's :class:`~hrkd_lite.methods.hrkd.recorder.Recording`.

Static figures return a ``matplotlib.figure.Figure``; a notebook shows (and saves) one with
``viz.common.show_static``. Widgets keep the values they last drew in ``.current`` and the image they
show in ``.png`` (also in their ``Output``), so tests can set ``.value`` on a control and check the
result without a browser. Shapes: S recorded steps, L = M + 1 layers, D domains, H prototype width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
from matplotlib.figure import Figure

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.methods.hrkd.recorder import Recording
from hrkd_lite.viz.common import render_into
from hrkd_lite.viz.stats import heatmap, seed_bars

ATTENTION_KINDS = ("output", "heads_mean")


def _cos(x: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of x (N, H) → (N, N)."""
    n = x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-12)
    return n @ n.T


def _need_snapshots(rec: Recording) -> None:
    if len(rec.snap_steps) == 0:
        raise HrkdError("this recording has no prototype snapshots (a no-graph run records none)")


# ------------------------------------------------------------------ the idea in pictures

def plot_prototypes(rec: Recording, snap: int = -1) -> Figure:
    """Prototypes P (L, D, H) of one snapshot: 2-D PCA of all L·D vectors, and per-layer cosine
    similarity between the domains' prototypes (docs/methods/hrkd.md §2.2)."""
    _need_snapshots(rec)
    P = rec.snap_prototypes[snap]
    L, D, _ = P.shape
    flat = P.reshape(L * D, -1)
    centred = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig = Figure(figsize=(4 + 2.6 * L, 3.4), layout="constrained")
    axes = fig.subplots(1, L + 1)
    markers = "osD^v<>p*h"
    for m in range(L):
        for d in range(D):
            axes[0].scatter(*xy[m * D + d], color=f"C{d}", marker=markers[m % len(markers)], s=60,
                            label=rec.domains[d] if m == 0 else None)
    axes[0].set_title(f"PCA of P (step {int(rec.snap_steps[snap])})\nmarker = layer 0..{L - 1}")
    axes[0].legend(fontsize=7)
    cos = np.stack([_cos(P[m]) for m in range(L)])
    lo = float(cos[:, ~np.eye(D, dtype=bool)].min())
    for m in range(L):  # one shared scale: the colour bar sits beside the last layer's panel
        heatmap(axes[m + 1], cos[m], rec.domains, rec.domains, f"cos(P[{m}, d], P[{m}, d'])",
                vmin=lo, vmax=1, cbar=m == L - 1)
    return fig


def _heat(ax: Any, mat: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str) -> Any:
    """A row-stochastic matrix on a fixed 0..1 scale, annotated, with its colour bar."""
    return heatmap(ax, mat, rows, cols, title, vmin=0, vmax=1)


def plot_compare_step(rec: Recording, index: int = -1) -> Figure:
    """Step (a): reference attention A1 (D, D) of each layer m ≥ 1 at recorded step ``index``:
    row d = the mix of domains that forms d's reference prototype R_m[d] (docs/methods/hrkd.md §2.3a)."""
    L = rec.num_layers
    fig = Figure(figsize=(3.3 * (L - 1), 3.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(L - 1, 1)))
    for m in range(1, L):
        _heat(axes[m - 1], rec.reference_attention[index, m], rec.domains, rec.domains,
              f"A1, layer {m} (step {int(rec.steps[index])})")
    return fig


def plot_aggregate_step(rec: Recording, index: int = -1) -> Figure:
    """Step (b): hierarchical ratios a2 of each layer m ≥ 1: row d = weights of d's raw prototypes of
    layers 0..m in the GAT input feat_m[d] (docs/methods/hrkd.md §2.3b)."""
    L = rec.num_layers
    fig = Figure(figsize=(1.0 + 2.2 * (L - 1) + 0.6 * L * (L - 1) / 2, 3.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(L - 1, 1)))
    for m in range(1, L):
        _heat(axes[m - 1], rec.ratios[index, m, :, : m + 1], rec.domains, [f"P[{k}]" for k in range(m + 1)],
              f"a2, layer {m} (step {int(rec.steps[index])})")
    return fig


def graph_attention(rec: Recording, index: int, layer: int, kind: str = "output") -> np.ndarray:
    """(D, D) GAT attention at a recorded step: the output layer's, or the mean over first-layer heads."""
    check_choice("attention kind", kind, ATTENTION_KINDS)
    if kind == "output":
        return rec.gat_out_attention[index, layer]
    return rec.gat_attention[index, layer].mean(axis=0)


def draw_domain_graph(ax: Any, domains: Sequence[str], weights: np.ndarray, attention: np.ndarray,
                      title: str = "") -> None:
    """Domain-relational graph: node area ∝ domain weight w_m[d] (uniform 1/D = 1500), edge i→j width
    ∝ GAT attention α_ij (self-loops omitted; α_dd is in the node label). Sizes are proportional, not
    stretched: near-uniform weights look near-uniform."""
    D = len(domains)
    g = nx.DiGraph()
    g.add_nodes_from(range(D))
    g.add_edges_from((i, j) for i in range(D) for j in range(D) if i != j)
    pos = nx.circular_layout(g)
    sizes = 1500 * D * np.asarray(weights, dtype=float)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=sizes, node_color=[f"C{d}" for d in range(D)], alpha=0.85)
    widths = [0.5 + 8 * float(attention[i, j]) for i, j in g.edges]
    nx.draw_networkx_edges(g, pos, ax=ax, width=widths, alpha=0.5, arrows=True, arrowsize=10,
                           connectionstyle="arc3,rad=0.12", node_size=sizes)
    labels = {d: f"{domains[d]}\nw={weights[d]:.3f}\nself={attention[d, d]:.2f}" for d in range(D)}
    nx.draw_networkx_labels(g, pos, labels, ax=ax, font_size=7)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.axis("off")


def plot_weights_over_training(rec: Recording) -> Figure:
    """w_m[d] against the optimiser step, one panel per layer (uniform 1/D dashed)."""
    L, D = rec.num_layers, len(rec.domains)
    fig = Figure(figsize=(3.6 * L, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, L, sharey=True))
    for m in range(L):
        for d in range(D):
            axes[m].plot(rec.steps, rec.weights[:, m, d], color=f"C{d}", label=rec.domains[d])
        axes[m].axhline(1 / D, ls="--", color="grey", lw=0.8)
        axes[m].set_title(f"domain weights, layer {m}", fontsize=9)
        axes[m].set_xlabel("step")
    axes[0].legend(fontsize=7)
    return fig


def uniformity_report(rec: Recording, tol: float = 1e-6) -> dict[str, float]:
    """How far the recorded weights are from uniform (1/D), and why.

    ``dev_recorded``: max |w − 1/D| over all recorded steps and layers (dropout on, as trained);
    ``dev_snap_train`` / ``dev_snap_eval``: the same at the snapshot steps, with dropout (recorded) and
    recomputed without dropout (``snap_weights_eval``; NaN when absent);
    ``identical_rows``: share of (step, layer) whose output-GAT attention rows are all equal (then every
    domain's output, hence weight, is equal unless dropout changed it).
    """
    D = len(rec.domains)
    out = {"dev_recorded": float(np.abs(rec.weights - 1 / D).max())}
    steps = [rec.index_of(int(s)) for s in rec.snap_steps]
    has_eval = len(rec.snap_weights_eval) == len(steps) and len(steps) > 0
    out["dev_snap_train"] = float(np.abs(rec.weights[steps] - 1 / D).max()) if steps else float("nan")
    out["dev_snap_eval"] = float(np.abs(rec.snap_weights_eval - 1 / D).max()) if has_eval else float("nan")
    rows = np.abs(rec.gat_out_attention - rec.gat_out_attention[:, :, :1, :]).max(axis=(2, 3))
    out["identical_rows"] = float((rows <= tol).mean())
    return out


# ------------------------------------------------------------------ learned vs ground truth

def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):  # average ties
        r[x == v] = r[x == v].mean()
    return r


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def similarity_vs_truth(rec: Recording, truth: np.ndarray) -> dict[str, dict[str, Any]]:
    """Compare learned cross-domain relations with the ground-truth similarity (D, D), off-diagonal pairs
    symmetrised (i < j). Learned: the reference attention A1 and the GAT output attention (means over
    recorded steps and layers m ≥ 1), and the prototypes' cosine similarity (last snapshot, mean over
    layers). Returns ``{name: {"matrix", "pearson", "spearman", "pairs"}}``."""
    D = len(rec.domains)
    iu = np.triu_indices(D, k=1)
    learned = {
        "reference_attention": np.nanmean(rec.reference_attention[:, 1:], axis=(0, 1)),
        "gat_attention": rec.gat_out_attention[:, 1:].mean(axis=(0, 1)),
    }
    if len(rec.snap_steps):
        learned["prototype_cosine"] = np.mean([_cos(p) for p in rec.snap_prototypes[-1]], axis=0)
    t = np.asarray(truth, dtype=float)
    t_pairs = ((t + t.T) / 2)[iu]
    out = {}
    for name, mat in learned.items():
        pairs = ((mat + mat.T) / 2)[iu]
        ok = bool(np.isfinite(pairs).all())
        out[name] = {"matrix": mat, "pairs": pairs,
                     "pearson": _corr(pairs, t_pairs) if ok else float("nan"),
                     "spearman": _corr(_ranks(pairs), _ranks(t_pairs)) if ok else float("nan")}
    out["truth"] = {"matrix": t, "pairs": t_pairs, "pearson": 1.0, "spearman": 1.0}
    return out


def plot_similarity_vs_truth(rec: Recording, comparison: dict[str, dict[str, Any]]) -> Figure:
    """Heatmaps of the ground truth and each learned matrix, titled with the correlations."""
    names = ["truth", *[k for k in comparison if k != "truth"]]
    fig = Figure(figsize=(3.4 * len(names), 3.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        c = comparison[name]
        heatmap(ax, c["matrix"], rec.domains, rec.domains, name if name == "truth" else
                f"{name}\npearson {c['pearson']:.2f}, spearman {c['spearman']:.2f}")
    return fig


# ------------------------------------------------------------------ results

def plot_results(summary: dict[str, dict[str, tuple[float, float, int]]], labels: dict[str, str] | None = None,
                 key: str = "average") -> Figure:
    """Bar chart of mean test accuracy per run (from ``experiments.summarize``), ± one standard deviation
    over seeds where a run has ≥ 2 seeds (the spread ``noise.format_accuracy`` prints); a one-seed run
    is labelled "1 seed" and has no interval."""
    names = list(summary)
    fig = Figure(figsize=(1.0 + 0.9 * len(names), 3.4), layout="constrained")
    ax = fig.subplots()
    means = [100 * summary[n][key][0] for n in names]
    stds = [100 * summary[n][key][1] if summary[n][key][2] >= 2 else 0.0 for n in names]
    seed_bars(ax, [(labels or {}).get(n, n) for n in names], means, stds, [summary[n][key][2] for n in names])
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.set_ylabel(f"test accuracy, {key} (%)")
    lo = max(0.0, min(m - s for m, s in zip(means, stds)) - 5)
    ax.set_ylim(lo, 100)
    if lo > 0:  # a truncated axis says so
        ax.set_title(f"y axis starts at {lo:.0f}%, not 0", fontsize=8, loc="left")
    return fig


def plot_hrkd_few_shot(curve: dict[str, dict[float, dict]], key: str = "average", teacher: dict[float, float] | None = None,
                  chance: float | None = None, seeds: int = 1) -> Figure:
    """Test accuracy (%) against the kept fraction of each train split, one line per method, with the
    stage-A teacher retrained on each fraction (``teacher``: {fraction: accuracy in [0, 1]}, dashed) and
    the chance line 1/C (``chance``, in [0, 1]). ``seeds``: runs per point (the title says "one seed")."""
    fig = Figure(figsize=(5.2, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (name, pts) in enumerate(curve.items()):
        fr = sorted(pts)
        ax.plot(fr, [100 * pts[f]["accuracy"]["test"][key] for f in fr], "o-", color=f"C{i}", label=name)
    if teacher:
        tf = sorted(teacher)
        ax.plot(tf, [100 * teacher[f] for f in tf], "s--", color="black", ms=4, lw=1, label="teacher (stage A)")
    if chance is not None:
        ax.axhline(100 * chance, color="grey", ls=":", lw=1, label=f"chance ({100 * chance:.0f}%)")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of each domain's train split (log scale)")
    ax.set_ylabel(f"test accuracy, {key} (%)")
    ax.set_ylim(0, 101)
    ax.legend(fontsize=7)
    ax.set_title("few-shot (" + ("one seed" if seeds == 1 else f"{seeds} seeds") + " per point)", fontsize=10)
    return fig


# ------------------------------------------------------------------ widgets

class _Widget:
    """A matplotlib Figure redrawn, as a PNG, into an ``ipywidgets.Output`` whenever a control changes."""

    def __init__(self, controls: list, figsize: tuple[float, float]) -> None:
        import ipywidgets as w

        self.fig = Figure(figsize=figsize, layout="constrained")
        self.out = w.Output()
        self.current: dict[str, Any] = {}
        self.png = b""
        for c in controls:
            c.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox(controls), self.out])

    def draw(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def update(self) -> None:
        self.fig.clear()
        self.draw()
        self.png = render_into(self.out, self.fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class PrototypeInspector(_Widget):
    """For one layer m and domain d, over training: the hierarchical ratios over layers 0..m, the
    reference prototype's attention over domains (row d of A1), and the domain weight w_m[d]."""

    def __init__(self, rec: Recording) -> None:
        import ipywidgets as w

        self.rec = rec
        self.layer = w.Dropdown(options=list(range(rec.num_layers)), value=rec.num_layers - 1, description="layer")
        self.domain = w.Dropdown(options=list(rec.domains), value=rec.domains[0], description="domain")
        super().__init__([self.layer, self.domain], (11.0, 3.2))
        self.update()

    def draw(self) -> None:
        r, m = self.rec, self.layer.value
        d = r.domains.index(self.domain.value)
        self.current = {"layer": m, "domain": self.domain.value, "ratios": r.ratios[:, m, d, : m + 1],
                        "reference_attention": r.reference_attention[:, m, d], "weights": r.weights[:, m, d]}
        axes = self.fig.subplots(1, 3)
        for k in range(m + 1):
            axes[0].plot(r.steps, self.current["ratios"][:, k], label=f"P[{k}]")
        axes[0].set_title(f"hierarchical ratios, layer {m}, {self.domain.value}", fontsize=9)
        for j, name in enumerate(r.domains):
            axes[1].plot(r.steps, self.current["reference_attention"][:, j], color=f"C{j}", label=name)
        axes[1].set_title("reference attention over domains" + (" (none at layer 0)" if m == 0 else ""), fontsize=9)
        for j, name in enumerate(r.domains):
            axes[2].plot(r.steps, r.weights[:, m, j], color=f"C{j}", lw=2.5 if j == d else 0.8,
                         alpha=1 if j == d else 0.4, label=name)
        axes[2].set_title(f"domain weights, layer {m} ({self.domain.value} bold)", fontsize=9)
        for ax in axes:
            ax.set_xlabel("step")
            ax.legend(fontsize=6)
