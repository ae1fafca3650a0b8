"""Figures and widgets of notebook 01 (AdaBERT). They only draw what the package computed.

Widgets keep their state in ``.current`` and redraw on ``.value`` changes of their control, so tests
drive them headlessly. Shapes: E = 9 edges, |O| = 10 ops, S recorded search steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from hrkd_lite.methods.adabert.derive import Genotype
from hrkd_lite.methods.adabert.gumbel import sample_many
from hrkd_lite.methods.adabert.ops import PRIMITIVES
from hrkd_lite.methods.adabert.supernet import edge_inputs
from hrkd_lite.viz.common import ValueView, new_figure
from hrkd_lite.viz.stats import heatmap

OP_COLOURS = {op: f"C{i}" for i, op in enumerate(PRIMITIVES)}
SHORT = {"max_pool1d_3": "max3", "avg_pool1d_3": "avg3", "skip_connect": "skip", "dil_conv_3": "dil3",
         "dil_conv_5": "dil5", "dil_conv_7": "dil7", "std_conv_3": "conv3", "std_conv_5": "conv5",
         "std_conv_7": "conv7", "none": "none"}
EDGE_LABELS = [f"n{j}<-{('c_{k-2}', 'c_{k-1}')[i] if i < 2 else f'n{i - 2}'}" for j, i in edge_inputs(3)]


# ------------------------------------------------------------------ Gumbel demo

def gumbel_stats(alpha: np.ndarray, tau: float, n: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Samples of the package's ST-Gumbel for fixed α: pick frequencies (hard) and soft-sample maxima."""
    hard, soft = sample_many(torch.as_tensor(alpha, dtype=torch.float32), tau, n, seed)
    return {"probs": torch.softmax(torch.as_tensor(alpha, dtype=torch.float32), -1).numpy(),
            "freq": hard.mean(0).numpy(), "soft_max": soft.max(-1).values.numpy(), "tau": np.float32(tau)}


def plot_gumbel(stats: Mapping[str, np.ndarray], labels: Sequence[str] = PRIMITIVES) -> Figure:
    fig, (a, b) = new_figure(1, 2, figsize=(11, 3.6))
    x = np.arange(len(stats["probs"]))
    a.bar(x - 0.2, stats["probs"], 0.4, label="softmax(α)")
    a.bar(x + 0.2, stats["freq"], 0.4, label=f"forward one-hot picks ({len(stats['soft_max'])} samples)")
    a.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
    a.set_ylabel("probability / frequency")
    a.legend(fontsize=8)
    a.set_title("the forward pass picks op o with probability softmax(α)_o")
    b.hist(stats["soft_max"], bins=30, range=(0, 1), color="C3")
    b.set_xlabel("largest entry of the soft sample (the gradient path)")
    b.set_ylabel("samples")
    b.set_title(f"τ = {float(stats['tau']):.2f}: low τ -> soft sample close to one-hot")
    return fig


# ------------------------------------------------------------------ search history

def plot_search_curves(hist: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """L_CE, the KD terms, L_E and τ / entropy of the tempered α over search steps."""
    fig, axes = new_figure(1, 3, figsize=(13, 3.4))
    s = hist["step"]
    axes[0].plot(s, hist["ce"], label="L_CE")
    axes[0].plot(s, hist["kd_final"], label="L_KD final logits")
    axes[0].plot(s, hist["kd_probe"], label="L_KD probes")
    axes[0].set_title("losses (sampled depth)")
    axes[1].plot(s, hist["eff"], color="C4", label="L_E")
    axes[1].set_title("efficiency loss L_E")
    axes[2].plot(s, hist["tau"], color="k", label="τ")
    axes[2].plot(s, hist["entropy"], color="C5", label="entropy of softmax(log p/τ), nats")
    axes[2].set_title("temperature and entropy")
    for ax in axes:
        ax.set_xlabel("search step")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_alpha(alpha: np.ndarray, depth: np.ndarray, depths: Sequence[int], step: int | None = None) -> Figure:
    """Heatmap of softmax(α) (E, |O|), cells annotated, with a colour bar; bars of softmax(α_K)."""
    fig, (a, b) = new_figure(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    heatmap(a, alpha, EDGE_LABELS, PRIMITIVES, "softmax(α) per edge" + (f" after step {step}" if step is not None else ""),
            vmin=0, vmax=max(0.3, float(alpha.max())), fontsize=7)
    b.bar([str(k) for k in depths], depth, color="C2")
    b.set_ylim(0, 1)
    b.set_xlabel("depth K")
    b.set_title("softmax(α_K)")
    return fig


def plot_alpha_snapshots(hist: Mapping[str, np.ndarray], count: int = 4) -> Figure:
    """softmax(α) at ``count`` evenly spaced steps, one heatmap each (one shared 0..0.5 colour bar)."""
    idx = np.unique(np.linspace(0, len(hist["step"]) - 1, count).round().astype(int))
    fig, axes = new_figure(1, len(idx), figsize=(3.3 * len(idx), 3.4), squeeze=False)
    for ax, i in zip(axes[0], idx):
        heatmap(ax, hist["alpha"][i], EDGE_LABELS if i == idx[0] else [""] * len(EDGE_LABELS),
                [SHORT[p] for p in PRIMITIVES], f"step {int(hist['step'][i])}", vmin=0, vmax=0.5,
                cbar=i == idx[-1], annot=False, fontsize=6)
        ax.tick_params(axis="x", labelrotation=90)
    return fig


# ------------------------------------------------------------------ the cell DAG

def draw_cell(ax: Any, alpha: np.ndarray, genotype: Genotype, title: str = "") -> None:
    """Cell DAG (networkx): colour = argmax non-`none` op of each edge, width ∝ its probability;
    the derived (kept) edges solid, the others dotted."""
    import networkx as nx

    names = ["c_{k-2}", "c_{k-1}", "node 0", "node 1", "node 2", "out"]
    pos = {"c_{k-2}": (0, 1), "c_{k-1}": (0, -1), "node 0": (1, 0.6), "node 1": (2, -0.6), "node 2": (3, 0.6),
           "out": (4, 0)}
    g = nx.DiGraph()
    g.add_nodes_from(names)
    kept = {(j, i) for j, node in enumerate(genotype.cells) for _, i in node}
    for e, (j, i) in enumerate(edge_inputs(3)):
        a = alpha[e].copy()
        a[PRIMITIVES.index("none")] = -1
        op = int(a.argmax())
        g.add_edge(names[i], names[2 + j], colour=OP_COLOURS[PRIMITIVES[op]], width=1 + 12 * float(alpha[e, op]),
                   style="solid" if (j, i) in kept else "dotted", op=PRIMITIVES[op])
    for j in range(3):
        g.add_edge(names[2 + j], "out", colour="0.6", width=1.0, style="solid", op="sum")
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color="0.92", node_size=900, edgecolors="0.4")
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    for u, v, d in g.edges(data=True):
        nx.draw_networkx_edges(g, pos, edgelist=[(u, v)], ax=ax, edge_color=d["colour"], width=d["width"],
                               style=d["style"], arrows=True, node_size=900, connectionstyle="arc3,rad=0.12")
    used = sorted({d["op"] for *_, d in g.edges(data=True) if d["op"] != "sum"}, key=PRIMITIVES.index)
    ax.legend(handles=[Patch(color=OP_COLOURS[o], label=o) for o in used], fontsize=7, loc="lower right")
    ax.set_title(title or f"derived depth K = {genotype.depth}", fontsize=10)
    ax.axis("off")


def plot_cell(alpha: np.ndarray, genotype: Genotype, title: str = "") -> Figure:
    fig, ax = new_figure(figsize=(7.5, 4))
    draw_cell(ax, alpha, genotype, title)
    return fig


def plot_two_cells(items: Sequence[tuple[str, np.ndarray, Genotype]]) -> Figure:
    """Side-by-side cells of several tasks: (task name, final softmax(α), genotype)."""
    fig, axes = new_figure(1, len(items), figsize=(7 * len(items), 4), squeeze=False)
    for ax, (name, alpha, g) in zip(axes[0], items):
        draw_cell(ax, alpha, g, f"{name}: K = {g.depth}")
    return fig


# ------------------------------------------------------------------ results

def plot_probe_accuracy(per_task: Mapping[str, Sequence[float]], chance: float) -> Figure:
    """Dev accuracy of the teacher's probe on each layer (0 = embeddings), one line per task."""
    fig, ax = new_figure(figsize=(6.5, 3.6))
    for name, acc in per_task.items():
        ax.plot(range(len(acc)), acc, marker="o", label=name)
    ax.axhline(chance, color="0.5", ls="--", label="chance")
    ax.set_xlabel("teacher layer j (0 = embeddings)")
    ax.set_ylabel("probe dev accuracy")
    ax.set_title("what each frozen teacher layer knows about the label")
    ax.legend(fontsize=8)
    return fig


def plot_pareto(points: Sequence[Mapping[str, Any]]) -> Figure:
    """Test accuracy against parameters (log) and against measured latency (batch 32)."""
    fig, (a, b) = new_figure(1, 2, figsize=(12, 4))
    for i, p in enumerate(points):
        kw = {"marker": "*" if p["name"] == "teacher" else ("o" if str(p["name"]).startswith("β") else "s"),
              "s": 120 if p["name"] == "teacher" else 60, "color": f"C{i % 10}"}
        a.scatter(p["params"] / 1e6, 100 * p["accuracy"], **kw)
        b.scatter(p["latency_ms"], 100 * p["accuracy"], label=p["name"], **kw)
    b.set_xscale("log")
    a.set_xlabel("parameters (M, deployed stem included)")
    b.set_xlabel("latency, batch 32 (ms, measured here; log scale)")
    for ax in (a, b):
        ax.set_ylabel("test accuracy (%)")
    b.legend(fontsize=8, loc="best")
    return fig


def plot_bars(values: Mapping[str, Mapping[str, float]], title: str, ylabel: str = "test accuracy (%)") -> Figure:
    """Grouped bars: ``values[group][series]`` (accuracies 0..1)."""
    groups = list(values)
    series = list(dict.fromkeys(s for g in groups for s in values[g]))
    fig, ax = new_figure(figsize=(max(6, 1.6 * len(groups)), 3.8))
    w = 0.8 / max(1, len(series))
    for k, s in enumerate(series):
        ys = [100 * values[g].get(s, np.nan) for g in groups]
        ax.bar(np.arange(len(groups)) + (k - (len(series) - 1) / 2) * w, ys, w, label=s)
    ax.set_xticks(range(len(groups)), groups, rotation=15, fontsize=8)
    lo = min(100 * v for g in groups for v in values[g].values())
    ax.set_ylim(max(0, lo - 10), 100)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------ widgets

_Widget = ValueView  # one control; subclasses implement render_value(value)


class GumbelWidget(_Widget):
    """τ slider: 1,000 ST-Gumbel samples of a fixed α, re-drawn by the package's sampler."""

    def __init__(self, alpha: np.ndarray, n: int = 1000, seed: int = 0) -> None:
        import ipywidgets as w

        self.alpha, self.n, self.seed = np.asarray(alpha, np.float32), n, seed
        super().__init__(w.FloatSlider(value=1.0, min=0.05, max=3.0, step=0.05, description="τ"))
        self.update()

    def render_value(self, value: float):
        st = gumbel_stats(self.alpha, value, self.n, self.seed)
        cur = {"tau": value, "freq": st["freq"], "mean_soft_max": float(st["soft_max"].mean())}
        text = (f"τ = {value:.2f}: mean largest soft entry {cur['mean_soft_max']:.3f}; pick frequencies do not "
                f"depend on τ (max |freq − softmax(α)| = {np.abs(st['freq'] - st['probs']).max():.3f})")
        return plot_gumbel(st), text, cur


class SearchReplayWidget(_Widget):
    """Step slider over a recorded search: softmax(α) heatmap and depth bars at that step."""

    def __init__(self, hist: Mapping[str, np.ndarray], depths: Sequence[int]) -> None:
        import ipywidgets as w

        self.hist, self.depths = hist, list(depths)
        last = int(hist["step"][-1])
        super().__init__(w.IntSlider(value=last, min=1, max=last, step=1, description="step"))
        self.update()

    def render_value(self, value: int):
        i = int(np.clip(value, 1, len(self.hist["step"]))) - 1
        alpha, depth = self.hist["alpha"][i], self.hist["depth"][i]
        cur = {"step": value, "alpha": alpha, "depth": depth, "top_ops": [PRIMITIVES[k] for k in alpha.argmax(-1)]}
        text = (f"step {value}: τ = {self.hist['tau'][i]:.3f}, L_CE = {self.hist['ce'][i]:.3f}, "
                f"L_E = {self.hist['eff'][i]:.3f}; most likely depth K = {self.depths[int(depth.argmax())]}")
        return plot_alpha(alpha, depth, self.depths, value), text, cur


class DeriveNowWidget(_Widget):
    """Step slider: derive on the α recorded at that step (top-2 edges per node, argmax op), draw the cell
    and print the genotype and its parameter count. ``derive_fn(step) -> (Genotype, params)``."""

    def __init__(self, hist: Mapping[str, np.ndarray], derive_fn: Callable[[int], tuple[Genotype, int]]) -> None:
        import ipywidgets as w

        self.hist, self.derive_fn = hist, derive_fn
        last = int(hist["step"][-1])
        super().__init__(w.IntSlider(value=last, min=1, max=last, step=1, description="derive at"))
        self.update()

    def render_value(self, value: int):
        g, params = self.derive_fn(value)
        i = int(np.clip(value, 1, len(self.hist["step"]))) - 1
        cur = {"step": value, "genotype": g, "params": params}
        return plot_cell(self.hist["alpha"][i], g), f"{g.describe()}\nparameters {params:,}", cur


class BetaWidget(_Widget):
    """Slider over the precomputed β searches: final softmax(α) and the derived network's numbers."""

    def __init__(self, runs: Mapping[float, Mapping[str, Any]], hists: Mapping[float, Mapping[str, np.ndarray]],
                 depths: Sequence[int]) -> None:
        import ipywidgets as w

        self.runs, self.hists, self.depths = runs, hists, list(depths)
        opts = sorted(runs)
        super().__init__(w.SelectionSlider(options=opts, value=opts[0], description="β"))
        self.update()

    def render_value(self, value: float):
        m, h = self.runs[value], self.hists[value]
        cur = {"beta": value, "architecture": m["architecture"], "params": m["params"]["total"],
               "accuracy": m["accuracy"]["test"]["average"]}
        text = (f"β = {value:g}: {m['architecture_text']}\nderived: test accuracy {100 * cur['accuracy']:.1f}%, "
                f"{cur['params'] / 1e6:.3f}M parameters, {m['latency_ms']['batch32']:.1f} ms at batch 32")
        return plot_alpha(h["alpha"][-1], h["depth"][-1], self.depths, int(h["step"][-1])), text, cur
