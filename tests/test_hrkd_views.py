"""Notebook 04's figures and widgets, headless: set a control's ``.value``, check what was drawn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hrkd_lite.hrkd import MetaGraph, Recorder, Recording  # noqa: E402
from hrkd_lite.hrkd.experiments import results_markdown, summarize  # noqa: E402
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


def test_graph_explorer_follows_its_controls(rec):
    ex = V.GraphExplorer(rec)
    assert ex.current["index"] == rec.num_steps - 1 and ex.current["layer"] == 2
    ex.step.value = 1
    assert ex.current["step"] == 2
    assert np.array_equal(ex.current["weights"], rec.weights[1, 2])
    ex.layer.value = 0
    assert np.array_equal(ex.current["weights"], rec.weights[1, 0])
    assert np.array_equal(ex.current["attention"], rec.gat_out_attention[1, 0])
    ex.kind.value = "heads_mean"
    assert np.allclose(ex.current["attention"], rec.gat_attention[1, 0].mean(axis=0))
    assert len(ex.fig.axes) == 1


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


@pytest.mark.parametrize("which,control,value", [("explorer", "step", 1), ("explorer", "layer", 0),
                                                 ("explorer", "kind", "heads_mean"),
                                                 ("inspector", "layer", 1), ("inspector", "domain", "electronics")])
def test_every_control_redraws_the_image(rec, which, control, value):
    widget = V.GraphExplorer(rec) if which == "explorer" else V.PrototypeInspector(rec)
    before = _image(widget.out)
    assert before == widget.png
    getattr(widget, control).value = value
    after = _image(widget.out)
    assert after == widget.png and after != before


def test_static_figures_have_one_panel_per_layer(rec):
    assert len(V.plot_prototypes(rec).axes) == 1 + 3 + 1  # PCA, 3 layers, colour bar
    assert len(V.plot_compare_step(rec).axes) == 2  # layers 1..M
    assert len(V.plot_aggregate_step(rec).axes) == 2
    assert len(V.plot_graph_grid(rec, [0, 4]).axes) == 3 * 2
    assert len(V.plot_weights_over_training(rec).axes) == 3


def test_similarity_vs_truth_recovers_a_known_matrix(rec):
    truth = V.similarity_vs_truth(rec, np.eye(4))["reference_attention"]["matrix"]
    cmp = V.similarity_vs_truth(rec, truth)
    assert cmp["reference_attention"]["pearson"] == pytest.approx(1.0)
    assert cmp["reference_attention"]["spearman"] == pytest.approx(1.0)
    assert set(cmp) == {"reference_attention", "gat_attention", "prototype_cosine", "truth"}
    assert len(V.plot_similarity_vs_truth(rec, cmp).axes) == 4


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
    assert len(V.plot_results(s).axes) == 1
    curve = {"x": {0.1: m(0.4), 1.0: m(0.8)}}
    assert len(V.plot_few_shot(curve).axes) == 1
