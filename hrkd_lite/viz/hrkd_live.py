"""Notebook 04's mechanism, recomputed live: the MetaGraph applied to a run's recorded prototypes.

A recording keeps, at a few snapshot steps, the real per-group prototypes P (G, L, D, H) of the step,
averaged over padding-included positions (``snap_groups_padding``) and over real tokens only
(``snap_groups_masked``). Given the run's graph (rebuilt from the run's seed: with ``graph_trainable=False``
it never moves), this module recomputes the domain weights w (L, D) (docs/methods/hrkd.md §2.3-2.4)
under the switches a learner toggles:

- prototype masking: padding included (the reference code) or real tokens only;
- GAT dropout: off (eval) or on (train mode), one dropout draw per ``draw`` seed;
- W2 init: the reference code's Xavier bound over each layer's (D, H, H) block, or per matrix.

Nothing here trains: the graph's forward pass runs under ``torch.no_grad``. :func:`show_tensor` prints a
tensor's shape next to the equation that made it (re-exported from ``viz.by_hand``).
:func:`plot_weight_deviation` draws w_m[d] − 1/D per layer over the recorded steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.methods.hrkd.config import XAVIER_GAIN
from hrkd_lite.methods.hrkd.graph import MetaGraph
from hrkd_lite.methods.hrkd.recorder import Recording
from hrkd_lite.viz.by_hand import shape_text, show_tensor
from hrkd_lite.viz.common import ControlView

MASKINGS = ("padding", "masked")  # padding included (code default) | real tokens only
W2_INITS = ("reference", "per_matrix")

__all__ = ["LiveResult", "GraphLab", "MASKINGS", "graph_with_w2", "live_inputs", "plot_live",
           "plot_weight_deviation", "recompute_weights", "shape_text", "show_tensor"]


def graph_with_w2(graph: MetaGraph, w2_init: str = "reference", seed: int = 0) -> MetaGraph:
    """``graph`` itself (``"reference"``) or a copy whose W2 is drawn again with per-matrix Xavier fans
    (``"per_matrix"``: bound gain·√(6 / 2H) for each (H, H) matrix instead of the (D, H, H) block's
    gain·√(6 / (H·H + D·H))), from a ``torch.Generator`` seeded with ``seed``; W1 and the GATs are kept."""
    check_choice("w2_init", w2_init, W2_INITS)
    if w2_init == "reference":
        return graph
    if graph.compare is None:
        raise HrkdError("this graph has no compare-aggregate step (hierarchical=False), so it has no W2")
    out = copy.deepcopy(graph)
    gen = torch.Generator().manual_seed(seed)
    gain = float(graph_gain(graph))
    with torch.no_grad():
        w2 = out.compare.W2
        for m in range(w2.shape[0]):
            for d in range(w2.shape[1]):
                fresh = torch.empty(w2.shape[2], w2.shape[3])
                nn.init.xavier_uniform_(fresh, gain=gain, generator=gen)
                w2[m, d].copy_(fresh)
    return out


def graph_gain(graph: MetaGraph) -> float:
    """The Xavier gain the graph was built with (read back from its config-free modules: 1.414 default)."""
    return float(getattr(graph, "xavier_gain", XAVIER_GAIN))


@dataclass
class LiveResult:
    """One recomputation: ``weights`` (L, D) = mean over the G groups of each group's w; ``per_group``
    (G, L, D); ``ratios`` (L, D, L) group mean of the hierarchical ratios; the switches used."""

    weights: np.ndarray
    per_group: np.ndarray
    ratios: np.ndarray
    masking: str
    dropout: bool
    draw: int
    w2_init: str

    @property
    def max_deviation(self) -> float:
        """max over layers and domains of |w_m[d] − 1/D|."""
        return float(np.abs(self.weights - 1.0 / self.weights.shape[-1]).max())


@torch.no_grad()
def recompute_weights(graph: MetaGraph, groups: Tensor | np.ndarray, *, dropout: bool = False, draw: int = 0,
                      w2_init: str = "reference", w2_seed: int = 0, masking: str = "padding") -> LiveResult:
    """The graph's domain weights on prototype groups (G, L, D, H) (or one (L, D, H) set).

    ``dropout=True`` runs the graph in train mode with the dropout masks of ``torch.manual_seed(draw)``
    (inside ``torch.random.fork_rng``: the caller's random state is untouched); False = eval mode.
    ``masking`` is only recorded in the result (the caller passes the matching prototypes).
    """
    check_choice("masking", masking, MASKINGS)
    p = torch.as_tensor(np.asarray(groups), dtype=torch.float32)
    if p.dim() == 3:
        p = p.unsqueeze(0)
    if p.dim() != 4:
        raise HrkdError(f"prototypes must be (G, L, D, H) or (L, D, H), got {tuple(p.shape)}")
    g = graph_with_w2(graph, w2_init, w2_seed)
    was = g.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(draw)
        g.train(dropout)
        try:
            out = g(p)
        finally:
            g.train(was)
    per_group = out.weights.float().numpy()
    return LiveResult(weights=per_group.mean(axis=0), per_group=per_group,
                      ratios=np.nan_to_num(out.ratios.float().numpy()).mean(axis=0), masking=masking,
                      dropout=dropout, draw=draw, w2_init=w2_init)


def live_inputs(rec: Recording) -> dict[str, np.ndarray]:
    """``{"padding": (K, G, L, D, H), "masked": (K, G, L, D, H)}``: the recording's per-group snapshot
    prototypes both ways (HrkdError when the recording predates them or has no graph)."""
    pad = getattr(rec, "snap_groups_padding", np.zeros(0))
    msk = getattr(rec, "snap_groups_masked", np.zeros(0))
    if pad.ndim != 5 or msk.ndim != 5 or pad.shape[0] == 0 or pad.shape != msk.shape:
        raise HrkdError("this recording holds no per-group prototype snapshots (snap_groups_padding/masked); "
                        "rerun the HRKD run with this version of the package")
    return {"padding": pad, "masked": msk}


# ------------------------------------------------------------------ figures

def plot_live(result: LiveResult, domains: list[str], reference: np.ndarray | None = None,
              title: str = "") -> Figure:
    """Bars of w_m[d] − 1/D per layer (one group of D bars per layer), with the run's own eval-mode
    weights (``reference`` (L, D), as trained) as black outlines; y axis in units of 1/D."""
    L, D = result.weights.shape
    fig = Figure(figsize=(1.6 + 1.5 * L, 3.3), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / D
    for d in range(D):
        x = np.arange(L) - 0.4 + width * (d + 0.5)
        ax.bar(x, result.weights[:, d] - 1 / D, width, color=f"C{d}", label=domains[d])
        if reference is not None:
            ax.bar(x, reference[:, d] - 1 / D, width, fill=False, edgecolor="black", lw=0.8,
                   label="as recorded (dropout off)" if d == 0 else None)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(L), [f"layer {m}" for m in range(L)])
    ax.set_ylabel("w_m[d] − 1/D (uniform = 0)")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title or f"max |w − 1/D| = {result.max_deviation:.2e}", fontsize=9)
    return fig


def plot_weight_deviation(rec: Recording, seeds: int = 1) -> Figure:
    """w_m[d] − 1/D over the recorded steps: one heatmap per layer (rows = domains, columns = steps),
    a diverging colour scale centred on uniform, shared by all layers, with its colour bar.
    ``seeds``: how many runs the recording stands for (the title says "one seed" when 1)."""
    L, D = rec.num_layers, len(rec.domains)
    dev = rec.weights - 1.0 / D  # (S, L, D)
    lim = float(np.nanmax(np.abs(dev))) or 1e-12
    fig = Figure(figsize=(3.0 + 3.2 * L, 2.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, L, sharey=True))
    img = None
    for m, ax in enumerate(axes):
        img = ax.imshow(dev[:, m].T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                        extent=(float(rec.steps[0]) - 0.5, float(rec.steps[-1]) + 0.5, D - 0.5, -0.5))
        ax.set_yticks(range(D), rec.domains, fontsize=8)
        ax.set_xlabel("optimiser step")
        ax.set_title(f"layer {m}", fontsize=9)
    fig.colorbar(img, ax=list(axes), label="w_m[d] − 1/D")
    who = "one seed" if seeds == 1 else f"{seeds} seeds"
    seed = rec.meta.get("seed")
    fig.suptitle(f"deviation of each domain weight from uniform 1/D = {1 / D:.3f} ({who}"
                 + (f", seed {seed}" if seed is not None and seeds == 1 else "") + ")", fontsize=10)
    return fig


# ------------------------------------------------------------------ the widget

class GraphLab(ControlView):
    """Recompute the domain weights from a recording's prototypes while toggling the graph's switches.

    Controls: ``snap`` (snapshot step), ``masking``, ``dropout`` (off / on), ``draw`` (dropout seed),
    ``w2`` (W2 init). ``current`` holds the :class:`LiveResult` fields and the snapshot step.
    """

    def __init__(self, rec: Recording, graph: MetaGraph, w2_seed: int = 0) -> None:
        import ipywidgets as w

        self.rec, self.graph, self.w2_seed = rec, graph, w2_seed
        self.inputs = live_inputs(rec)
        steps = [int(s) for s in rec.snap_steps]
        self.snap = w.Dropdown(options=[(f"step {s}", i) for i, s in enumerate(steps)], value=len(steps) - 1,
                               description="snapshot")
        self.masking = w.Dropdown(options=[("padding included", "padding"), ("real tokens only", "masked")],
                                  value="masked" if rec.meta.get("config", {}).get("prototype_masked") else "padding",
                                  description="prototypes")
        self.dropout = w.ToggleButtons(options=[("off", False), ("on", True)], value=False,
                                       description="GAT dropout")
        self.draw = w.IntSlider(value=0, min=0, max=19, description="dropout draw")
        self.w2 = w.Dropdown(options=list(W2_INITS), value="reference", description="W2 init")
        super().__init__([self.snap, self.masking, self.dropout, self.draw, self.w2])
        self.widget.children = (w.VBox([w.HBox([self.snap, self.masking, self.w2]),
                                        w.HBox([self.dropout, self.draw])]), self.text, self.out)
        self.update()

    def render(self) -> tuple[Figure, str, dict[str, Any]]:
        k = self.snap.value
        res = recompute_weights(self.graph, self.inputs[self.masking.value][k], dropout=self.dropout.value,
                                draw=self.draw.value, w2_init=self.w2.value, w2_seed=self.w2_seed,
                                masking=self.masking.value)
        ref = self.rec.snap_weights_eval[k] if len(self.rec.snap_weights_eval) > k else None
        step = int(self.rec.snap_steps[k])
        title = (f"step {step}: {dict(MASKINGS_LABEL)[res.masking]}, dropout {'on' if res.dropout else 'off'}"
                 f"{f' (draw {res.draw})' if res.dropout else ''}, W2 {res.w2_init}")
        fig = plot_live(res, self.rec.domains, ref, title)
        text = (f"max |w − 1/D| = {res.max_deviation:.2e} over {res.weights.shape[0]} layers "
                f"(recomputed from the {res.per_group.shape[0]} prototype group(s) of step {step})")
        return fig, text, {"step": step, "weights": res.weights, "per_group": res.per_group,
                           "max_deviation": res.max_deviation, "masking": res.masking, "dropout": res.dropout,
                           "draw": res.draw, "w2_init": res.w2_init}


MASKINGS_LABEL = (("padding", "padding included"), ("masked", "real tokens only"))
