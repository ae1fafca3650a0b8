"""Notebook 04's figures and widgets, headless: set a control's ``.value``, check what was drawn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hrkd_lite.experiments.nb04 import results_markdown, summarize  # noqa: E402
from hrkd_lite.methods.hrkd import MetaGraph, Recorder, Recording  # noqa: E402
from hrkd_lite.noise import format_accuracy  # noqa: E402
from hrkd_lite.viz import hrkd_views as V  # noqa: E402
from hrkd_lite.viz.common import output_png  # noqa: E402

DOMAINS = ["books", "dvd", "electronics", "kitchen"]


def _image(out) -> bytes:
    """The PNG a widget's ``Output`` shows (what a reader sees), asserting there is one."""
    png = output_png(out)
    assert png is not None and png.startswith(b"\x89PNG"), "the widget's Output holds no PNG image"
    return png


@pytest.fixture(scope="module")
def rec(tmp_path_factory) -> Recording:
    """A recording of a real MetaGraph driven by drifting prototypes (5 steps, L = 3, D = 4, H = 12)."""
    torch.manual_seed(0)
    graph = MetaGraph(12, 3, 4).train()
    r = Recorder(DOMAINS, num_layers=3, num_heads=8)
    base = torch.randn(3, 4, 12)
    for step in range(1, 6):
        protos = base + 0.3 * step * torch.randn(3, 4, 12)
        out = graph(protos.unsqueeze(0))
        r.add(step, 0, out.record(), torch.rand(1, 3, 4), torch.rand(1, 4))
        if step in (1, 5):
            r.add_snapshot(step, protos, out.features, graph.eval()(protos).weights)
            graph.train()
    path = tmp_path_factory.mktemp("rec")
    r.to_recording({"seed": 0}).save(path)
    return Recording.load(path)


def test_prototype_inspector_follows_its_controls(rec):
    pi = V.PrototypeInspector(rec)
    pi.layer.value = 1
    pi.domain.value = "electronics"
    assert pi.current["ratios"].shape == (rec.num_steps, 2)
    assert np.array_equal(pi.current["ratios"], rec.ratios[:, 1, 2, :2])
    assert np.array_equal(pi.current["reference_attention"], rec.reference_attention[:, 1, 2])
    assert np.array_equal(pi.current["weights"], rec.weights[:, 1, 2])
    assert np.allclose(pi.current["ratios"].sum(axis=1), 1.0, atol=1e-6)
    pi.layer.value = 0
    assert pi.current["ratios"].shape == (rec.num_steps, 1)
    assert np.isnan(pi.current["reference_attention"]).all()  # no reference prototype at layer 0
    assert len(pi.fig.axes) == 3


@pytest.mark.parametrize("control,value", [("layer", 1), ("domain", "electronics")])
def test_every_control_redraws_the_image(rec, control, value):
    widget = V.PrototypeInspector(rec)
    before = _image(widget.out)
    assert before == widget.png
    getattr(widget, control).value = value
    after = _image(widget.out)
    assert after == widget.png and after != before


def test_static_figures_have_one_panel_per_layer(rec):
    assert len(V.plot_prototypes(rec).axes) == 1 + 3 + 1  # PCA, 3 layers, colour bar
    assert len(V.plot_compare_step(rec).axes) == 2 * 2  # layers 1..M, each with its colour bar
    assert len(V.plot_aggregate_step(rec).axes) == 2 * 2
    assert len(V.plot_weights_over_training(rec).axes) == 3


def test_similarity_vs_truth_recovers_a_known_matrix(rec):
    truth = V.similarity_vs_truth(rec, np.eye(4))["reference_attention"]["matrix"]
    cmp = V.similarity_vs_truth(rec, truth)
    assert cmp["reference_attention"]["pearson"] == pytest.approx(1.0)
    assert cmp["reference_attention"]["spearman"] == pytest.approx(1.0)
    assert set(cmp) == {"reference_attention", "gat_attention", "prototype_cosine", "truth"}
    fig = V.plot_similarity_vs_truth(rec, cmp)
    assert len(fig.axes) == 4 * 2  # four heatmaps, each with a colour bar
    for ax, name in zip(fig.axes[:4], ["truth", "reference_attention", "gat_attention", "prototype_cosine"]):
        assert np.allclose(_mesh(ax), cmp[name]["matrix"])  # the cells show exactly the compared matrix
        assert len(ax.texts) == 16  # 4 × 4 annotated cells
        assert ax.texts[1].get_text() == f"{cmp[name]['matrix'][0, 1]:.2f}"


def _error_bounds(ax) -> list[tuple[float, float]]:
    """(low, high) of every error bar on ``ax``, read from the caps matplotlib drew."""
    from matplotlib.container import ErrorbarContainer

    out = []
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            ys = sorted(float(y) for cap in c.lines[1] for y in cap.get_ydata())
            out.append((ys[0], ys[-1]))
    return out


def _mesh(ax) -> np.ndarray:
    """The values a seaborn heatmap on ``ax`` colours (its QuadMesh array, (R, C))."""
    from matplotlib.collections import QuadMesh

    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 1, "no heatmap on this axes"
    return np.ma.filled(meshes[0].get_array().astype(float), np.nan).reshape(meshes[0].get_coordinates().shape[0] - 1, -1)


def test_heatmaps_show_the_recorded_matrices(rec):
    fig = V.plot_compare_step(rec, 2)
    heat, bar = fig.axes[0], fig.axes[2]  # heatmaps first, then their colour bars
    assert np.allclose(_mesh(heat), rec.reference_attention[2, 1])
    assert len(heat.texts) == 16 and bar.get_label() == "<colorbar>"
    assert bar.get_ylim() == pytest.approx((0.0, 1.0))  # fixed 0..1 scale
    fig = V.plot_aggregate_step(rec, 0)
    assert np.allclose(_mesh(fig.axes[1]), rec.ratios[0, 2, :, :3])  # layer 2: D × 3 ratios
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["P[0]", "P[1]", "P[2]"]
    fig = V.plot_prototypes(rec)
    cos = V._cos(rec.snap_prototypes[-1][1])
    assert np.allclose(_mesh(fig.axes[2]), cos)
    assert fig.axes[-1].get_label() == "<colorbar>"


def test_uniformity_report(rec):
    u = V.uniformity_report(rec)
    assert set(u) == {"dev_recorded", "dev_snap_train", "dev_snap_eval", "identical_rows"}
    assert 0 <= u["identical_rows"] <= 1 and u["dev_recorded"] >= u["dev_snap_train"] >= 0
    assert np.isfinite(u["dev_snap_eval"])


def test_results_table_and_plots_from_metrics():
    def m(acc: float) -> dict:
        return {"accuracy": {"test": {"a": acc, "b": acc + 0.1, "average": acc + 0.05}}}

    runs = {"hrkd": [m(0.5), m(0.7)], "tinybert": [m(0.6)]}
    s = summarize(runs)
    assert s["hrkd"]["a"][0] == pytest.approx(0.6) and s["hrkd"]["a"][2] == 2
    assert s["tinybert"]["average"][1] == 0.0
    table = results_markdown(runs, labels={"hrkd": "HRKD"})
    assert "| HRKD | 2 | 60.0 ± 14.1 |" in table and "| tinybert | 1 | 60.0 |" in table
    fig = V.plot_results(s)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.patches) == 2  # one bar per run
    assert [p.get_height() for p in ax.patches] == pytest.approx([65.0, 65.0])
    caps = _error_bounds(ax)  # the one interval drawn (hrkd; tinybert has one seed)
    sd = 100 * float(np.std([0.55, 0.75], ddof=1))
    assert caps == [pytest.approx((65.0 - sd, 65.0 + sd))]
    assert format_accuracy([0.55, 0.75]) == f"65.0 ± {sd:.1f} (2 seeds)"  # the same spread the tables print
    assert [t.get_text() for t in ax.texts] == ["1 seed"]  # tinybert has one seed: no interval
    curve = {"x": {0.1: m(0.4), 1.0: m(0.8)}}
    ax = V.plot_hrkd_few_shot(curve, teacher={0.1: 0.5, 1.0: 0.9}, chance=0.5).axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert list(lines["x"].get_ydata()) == pytest.approx([100 * curve["x"][f]["accuracy"]["test"]["average"]
                                                          for f in (0.1, 1.0)])
    assert list(lines["teacher (stage A)"].get_ydata()) == pytest.approx([50.0, 90.0])
    assert list(lines["chance (50%)"].get_ydata()) == pytest.approx([50.0, 50.0])
    assert ax.get_ylim() == (0, 101) and "one seed" in ax.get_title() and "(%)" in ax.get_ylabel()
