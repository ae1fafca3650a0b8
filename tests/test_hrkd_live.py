"""The live recomputation of HRKD's domain weights (``viz.hrkd_live``), headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hrkd_lite.errors import HrkdError  # noqa: E402
from hrkd_lite.methods.hrkd import HRKDConfig, MetaGraph, Recorder, Recording  # noqa: E402
from hrkd_lite.methods.hrkd.compare_aggregate import CompareAggregate  # noqa: E402
from hrkd_lite.viz import hrkd_live as LV  # noqa: E402
from hrkd_lite.viz.common import output_png  # noqa: E402

DOMAINS = ["books", "dvd", "electronics", "kitchen"]
H, L, D, G = 12, 3, 4, 2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A frozen MetaGraph, a recording with two snapshots of real per-group prototypes both ways."""
    torch.manual_seed(0)
    graph = MetaGraph(H, L, D, HRKDConfig())
    r = Recorder(DOMAINS, num_layers=L, num_heads=8)
    for step in (1, 2, 3):
        pad = torch.randn(G, L, D, H)
        msk = pad + 0.5 * torch.randn(G, L, D, H)
        out = graph.train()(pad)
        r.add(step, 0, out.record(), torch.rand(G, L, D), torch.rand(G, D))
        if step in (1, 3):
            r.add_snapshot(step, pad, out.features, graph.eval()(pad).weights, {"padding": pad, "masked": msk})
    path = tmp_path_factory.mktemp("rec")
    r.to_recording({"seed": 0, "config": HRKDConfig().to_dict()}).save(path)
    return graph.eval(), Recording.load(path)


def test_recording_keeps_both_prototype_groups(setup):
    _, rec = setup
    assert rec.snap_groups_padding.shape == (2, G, L, D, H) == rec.snap_groups_masked.shape
    assert np.allclose(rec.snap_groups_padding.mean(axis=1), rec.snap_prototypes, atol=1e-6)
    assert not np.allclose(rec.snap_groups_padding, rec.snap_groups_masked)


def test_eval_recompute_reproduces_the_recorded_weights(setup):
    graph, rec = setup
    for k in range(2):
        res = LV.recompute_weights(graph, rec.snap_groups_padding[k])
        assert res.weights.shape == (L, D) and res.per_group.shape == (G, L, D)
        assert np.allclose(res.weights, rec.snap_weights_eval[k], atol=1e-6)
        assert np.allclose(res.weights.sum(-1), 1.0, atol=1e-5)
        assert res.max_deviation == pytest.approx(float(np.abs(res.weights - 0.25).max()))


def test_dropout_draws_differ_are_reproducible_and_leave_the_global_rng_alone(setup):
    graph, rec = setup
    p = rec.snap_groups_padding[-1]
    state = torch.random.get_rng_state()
    a = LV.recompute_weights(graph, p, dropout=True, draw=0)
    b = LV.recompute_weights(graph, p, dropout=True, draw=1)
    again = LV.recompute_weights(graph, p, dropout=True, draw=0)
    assert torch.equal(state, torch.random.get_rng_state())
    assert np.array_equal(a.weights, again.weights) and not np.allclose(a.weights, b.weights)
    off = LV.recompute_weights(graph, p)
    assert not np.allclose(a.weights, off.weights)
    assert not graph.training  # put back in eval mode


def test_per_matrix_w2_is_a_redrawn_copy_with_the_larger_bound(setup):
    graph, rec = setup
    ref_w2 = graph.compare.W2.detach().clone()
    g2 = LV.graph_with_w2(graph, "per_matrix", seed=3)
    assert g2 is not graph and torch.equal(graph.compare.W2, ref_w2)
    assert torch.equal(g2.compare.W1, graph.compare.W1)
    small = CompareAggregate.w2_bound(H, D, 1.414, "reference")
    big = CompareAggregate.w2_bound(H, D, 1.414, "per_matrix")
    assert float(ref_w2.abs().max()) <= small + 1e-6 < float(g2.compare.W2.abs().max()) <= big + 1e-6
    assert LV.graph_with_w2(graph, "reference") is graph
    res = LV.recompute_weights(graph, rec.snap_groups_padding[-1], w2_init="per_matrix", w2_seed=3)
    base = LV.recompute_weights(graph, rec.snap_groups_padding[-1])
    assert not np.allclose(res.ratios, base.ratios)
    with pytest.raises(HrkdError, match="w2_init"):
        LV.graph_with_w2(graph, "nope")


def test_bad_inputs_are_one_line_errors(setup):
    graph, _ = setup
    with pytest.raises(HrkdError, match="masking"):
        LV.recompute_weights(graph, torch.zeros(L, D, H), masking="tokens")
    with pytest.raises(HrkdError, match="prototypes must be"):
        LV.recompute_weights(graph, torch.zeros(D, H))
    with pytest.raises(HrkdError, match="per-group"):
        LV.live_inputs(Recording.__new__(Recording))


def test_graph_lab_recomputes_on_every_control(setup):
    graph, rec = setup
    lab = LV.GraphLab(rec, graph)
    assert output_png(lab.out).startswith(b"\x89PNG")
    assert lab.current["step"] == 3 and np.allclose(lab.current["weights"], rec.snap_weights_eval[-1], atol=1e-6)
    lab.masking.value = "masked"
    want = LV.recompute_weights(graph, rec.snap_groups_masked[-1]).weights
    assert lab.current["masking"] == "masked" and np.allclose(lab.current["weights"], want)
    lab.dropout.value = True
    first = lab.current["weights"].copy()
    lab.draw.value = 5
    assert lab.current["draw"] == 5 and not np.allclose(first, lab.current["weights"])
    lab.dropout.value, lab.w2.value = False, "per_matrix"
    want = LV.recompute_weights(graph, rec.snap_groups_masked[-1], w2_init="per_matrix").weights
    assert lab.current["w2_init"] == "per_matrix" and np.allclose(lab.current["weights"], want)
    lab.snap.value = 0
    assert lab.current["step"] == 1
    assert "max |w − 1/D|" in lab.text.value and output_png(lab.out) == lab.png


def test_weight_deviation_figure_plots_w_minus_uniform_per_layer(setup):
    _, rec = setup
    fig = LV.plot_weight_deviation(rec)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == L
    for m, img in enumerate(images):
        assert np.allclose(np.asarray(img.get_array()), (rec.weights[:, m] - 0.25).T)
        lo, hi = img.get_clim()
        assert lo == -hi  # centred on uniform
    assert any(ax.get_ylabel() == "w_m[d] − 1/D" for ax in fig.axes)  # the colour bar
    assert all(ax.get_xlabel() == "optimiser step" for ax in fig.axes[:L])
    assert "one seed, seed 0" in fig._suptitle.get_text()


def test_live_bars_plot_the_deviation(setup):
    graph, rec = setup
    res = LV.recompute_weights(graph, rec.snap_groups_padding[0])
    fig = LV.plot_live(res, DOMAINS, rec.snap_weights_eval[0])
    ax = fig.axes[0]
    filled = [p for p in ax.patches if p.get_fill()]
    assert len(filled) == L * D
    heights = np.array([p.get_height() for p in filled]).reshape(D, L).T
    assert np.allclose(heights, res.weights - 0.25, atol=1e-7)
    assert ax.get_ylabel().startswith("w_m[d] − 1/D")


def test_show_tensor_prints_shape_and_small_values(capsys):
    t = LV.show_tensor("A1 = softmax(M1)", torch.eye(2))
    line = capsys.readouterr().out
    assert "A1 = softmax(M1)" in line and "(2, 2)" in line and "1." in line
    assert torch.equal(t, torch.eye(2))
    assert "[" not in LV.shape_text("P", torch.zeros(3, 4, 8))
