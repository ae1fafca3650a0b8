"""Notebook 01 views: figures show what was computed; widgets respond to ``.value`` headlessly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrkd_lite.experiments.nb01 import derive_at, label_for
from hrkd_lite.methods.adabert.derive import Genotype, derive
from hrkd_lite.methods.adabert.ops import PRIMITIVES
from hrkd_lite.viz import adabert_views as V

pytest.importorskip("ipywidgets")


def _hist(steps: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(steps, 9, 10)).cumsum(0)
    alpha = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    depth = np.tile(np.array([0.2, 0.5, 0.3]), (steps, 1))
    s = np.arange(1, steps + 1)
    f = rng.random(steps).astype(np.float32)
    return {"step": s, "alpha": alpha.astype(np.float32), "depth": depth.astype(np.float32), "tau": f, "ce": f,
            "kd_final": f, "kd_probe": f, "eff": f, "loss": f, "entropy": f, "sampled_depth": f}


def test_gumbel_widget_recomputes_with_tau():
    alpha = np.log(np.array([0.5, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.01, 0.01, 0.01]))
    w = V.GumbelWidget(alpha, n=2000)
    assert np.abs(w.current["freq"] - np.exp(alpha) / np.exp(alpha).sum()).max() < 0.04
    hot = w.current["mean_soft_max"]
    w.control.value = 0.1
    assert w.current["tau"] == 0.1 and w.current["mean_soft_max"] > hot > 0.1
    assert np.allclose(w.current["freq"].sum(), 1.0)


def test_alpha_heatmap_shows_alpha_and_depth():
    h = _hist()
    fig = V.plot_alpha(h["alpha"][2], h["depth"][2], [1, 2, 3], 3)
    mesh = fig.axes[0].collections[0]  # seaborn's heatmap: a QuadMesh holding the (E, |O|) values
    assert np.allclose(np.asarray(mesh.get_array()).reshape(h["alpha"][2].shape), h["alpha"][2])
    E, n_ops = h["alpha"][2].shape
    assert len(fig.axes[0].texts) == E * n_ops and fig.axes[0].texts[0].get_text() == f"{h['alpha'][2][0, 0]:.2f}"
    assert fig.axes[-1].get_label() == "<colorbar>"
    snaps = V.plot_alpha_snapshots(h, 3)
    assert len(snaps.axes) == 3 + 1  # three heatmaps, one shared colour bar
    assert np.allclose(np.asarray(snaps.axes[-2].collections[0].get_array()).reshape(E, n_ops), h["alpha"][-1])
    assert [p.get_height() for p in fig.axes[1].patches] == pytest.approx(h["depth"][2].tolist())


def test_search_replay_and_derive_now_widgets():
    h = _hist()
    w = V.SearchReplayWidget(h, [1, 2, 3])
    assert w.current["step"] == 6
    w.control.value = 2
    assert np.allclose(w.current["alpha"], h["alpha"][1])
    cfg = {"hidden": 8, "max_depth": 3}
    from hrkd_lite.methods.adabert.config import AdaBERTConfig

    full = AdaBERTConfig(**cfg).to_dict()
    d = V.DeriveNowWidget(h, lambda s: derive_at(h, s, full, 2))
    d.control.value = 3
    expect = derive(torch.tensor(h["alpha"][2]).log(), torch.tensor(h["depth"][2]).log(), [1, 2, 3])
    assert d.current["genotype"] == expect and d.current["params"] > 0
    assert "node0" in d.text.value and f"{d.current['params']:,}" in d.text.value


def test_cell_dag_widths_follow_probabilities():
    h = _hist()
    alpha = h["alpha"][-1]
    g = derive(torch.tensor(alpha).log(), torch.tensor([0.0, 1.0, 0.0]), [1, 2, 3])
    fig = V.plot_cell(alpha, g)
    ax = fig.axes[0]
    assert ax.get_title().startswith("derived depth K = 2")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(legend) <= set(PRIMITIVES) and "none" not in legend


def test_beta_widget_and_pareto():
    h0, h1 = _hist(seed=0), _hist(seed=1)
    g = Genotype(1, [[("skip_connect", 0), ("std_conv_3", 1)]] * 3)
    runs = {b: {"architecture": g.to_dict(), "architecture_text": g.describe(), "params": {"total": 1000 * (b + 1)},
                "accuracy": {"test": {"average": 0.8 - 0.01 * b}}, "latency_ms": {"batch32": 1.0 + b}}
            for b in (0.0, 4.0)}
    w = V.BetaWidget(runs, {0.0: h0, 4.0: h1}, [1, 2, 3])
    w.control.value = 4.0
    assert w.current["params"] == 5000
    assert "β = 4" in w.text.value
    pts = [{"name": "teacher", "accuracy": 0.9, "params": 2e7, "latency_ms": 100.0},
           {"name": "β=0", "accuracy": 0.8, "params": 1e6, "latency_ms": 5.0}]
    fig = V.plot_pareto(pts)
    offs = np.concatenate([c.get_offsets() for c in fig.axes[1].collections])
    assert np.allclose(offs, [[100.0, 90.0], [5.0, 80.0]])


def test_curves_and_bars_and_labels():
    h = _hist()
    fig = V.plot_search_curves(h)
    assert np.allclose(fig.axes[1].lines[0].get_ydata(), h["eff"])
    fig = V.plot_bars({"full": {"derived": 0.8, "supernet": 0.7}, "no KD": {"derived": 0.75, "supernet": 0.6}}, "x")
    assert [round(p.get_height(), 3) for p in fig.axes[0].patches] == [80.0, 75.0, 70.0, 60.0]
    assert label_for({}) == "default" and label_for({"beta": 4.0}) == "default"
    assert label_for({"beta": 0.0}) == "beta=0" and label_for({"probe_weighting": "uniform"}) == "probe_weighting=uniform"
    fig = V.plot_probe_accuracy({"keyword": [0.5, 0.7], "negation": [0.5, 0.6]}, 0.5)
    assert np.allclose(fig.axes[0].lines[1].get_ydata(), [0.5, 0.6])


def test_architecture_difference_counts_edges():
    from hrkd_lite.experiments.nb01 import architecture_difference

    a = Genotype(1, [[("skip_connect", 0), ("std_conv_3", 1)], [("max_pool1d_3", 0), ("skip_connect", 2)],
                     [("avg_pool1d_3", 1), ("skip_connect", 3)]])
    b = Genotype(2, [[("skip_connect", 0), ("std_conv_3", 1)], [("max_pool1d_3", 0), ("skip_connect", 2)],
                     [("avg_pool1d_3", 1), ("avg_pool1d_3", 2)]])
    d = architecture_difference({"architecture": a.to_dict()}, {"architecture": b.to_dict()})
    assert d == {"depths": (1, 2), "kept_edges": 6, "edges_only_in_a": 1, "same": False}
    assert architecture_difference({"architecture": a.to_dict()}, {"architecture": a.to_dict()})["same"]
