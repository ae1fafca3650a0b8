"""Notebook 02 views: figures plot what they are given; widgets respond to ``.value`` headlessly."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from hrkd_lite.experiments.nb02 import ChainTrace, paired_verdict, summarize, summary_markdown
from hrkd_lite.viz import l2a_views as V
from hrkd_lite.viz.common import output_png

SUMMARY = {"KD, target only": {32: (0.6, 0.02, 3), 128: (0.7, 0.01, 3)},
           "KD + learned selection (L2A-style)": {32: (0.65, 0.03, 3), 128: (0.72, 0.02, 3)}}


def trace(rho: float = 0.2, steps: int = 2) -> ChainTrace:
    toks = [["a", "b", "c", "d"]] + [["a", "x", "c", "d"], ["a", "x", "c", "y"]][:steps]
    changed = [[False] * 4, [False, True, False, False], [False, False, False, True]][:steps + 1]
    masked = [[False] * 4, [False, True, False, False], [False, False, True, True]][:steps + 1]
    return ChainTrace(toks, changed, masked, rho, steps)


def test_accuracy_plot_draws_means_and_sd():
    fig = V.plot_accuracy_vs_labels(SUMMARY, "kitchen")
    ax = fig.axes[0]
    ys = sorted(tuple(np.round(line.get_ydata(), 3)) for line in ax.lines if line.get_linestyle() != "None")
    assert ys == [(0.6, 0.7), (0.65, 0.72)]
    assert any("3 seeds" in t.get_text() for t in ax.get_legend().get_texts())
    one = V.plot_accuracy_vs_labels({"KD, target only": {32: (0.6, 0.0, 1)}})
    assert "(1 seed)" in one.axes[0].get_legend().get_texts()[0].get_text()


def test_chain_figure_marks_changed_tokens():
    fig = V.plot_chain(trace())
    ax = fig.axes[0]
    red = [t.get_text() for t in ax.texts if t.get_color() == "C3"]
    assert red == ["x", "y"]  # the changed pieces of steps 1 and 2
    assert "[1, 1] of 4" in ax.get_title()


def test_keep_map_colours_generated_by_keep_probability():
    rng = np.random.default_rng(0)
    m = {"source": rng.normal(size=(10, 5)), "target": rng.normal(size=(4, 5)), "generated": rng.normal(size=(6, 5)),
         "keep_prob": np.linspace(0, 1, 6)}
    fig = V.plot_keep_map(m)
    gen = [c for c in fig.axes[0].collections if len(c.get_offsets()) == 6][0]
    assert np.allclose(gen.get_array(), m["keep_prob"])
    assert V.pca_2d(np.array([[0.0, 0], [2, 0], [4, 0]]))[:, 0].tolist() in ([-2, 0, 2], [2, 0, -2])


def stats() -> dict[str, np.ndarray]:
    E, F = 5, 3
    out = {"features": np.array(["a", "b", "bias"]), "seeds": np.array(2)}
    for mode in ("learned", "random"):
        for key, shape in (("reward", (E,)), ("keep_rate", (E,)), ("dev_acc", (E,)), ("dev_loss", (E,)),
                           ("phi", (E, F))):
            out[f"{mode}_{key}_mean"] = np.linspace(0.1, 0.5, int(np.prod(shape))).reshape(shape) + (mode == "random")
            out[f"{mode}_{key}_sd"] = np.full(shape, 0.01)
    return out


def test_episode_and_leak_figures():
    fig = V.plot_episodes(stats(), 32)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert len(fig.axes[2].lines) == 3  # one line per selector weight (features + bias)
    rows = [(32, 0, 100, 90, 0, "0.50", "0.20", "0.90", "0.60")]
    leak = V.plot_leak(rows)
    heights = sorted(round(p.get_height(), 2) for p in leak.axes[0].patches)
    assert heights == [0.2, 0.5, 0.6, 0.9]


def test_chain_widget_regenerates_on_value():
    calls = []

    def regen(rho, steps):
        calls.append((rho, steps))
        return trace(rho, min(steps, 2))

    w = V.ChainWidget(regen, rho=0.2, steps=2)
    assert calls == [(0.2, 2)] and w.current["changed_per_step"] == [1, 1]
    w.rho.value = 0.4
    assert calls[-1] == (0.4, 2) and w.current["rho"] == 0.4
    w.steps.value = 1
    assert calls[-1] == (0.4, 1) and w.current["steps"] == 1 and w.current["changed_per_step"] == [1]
    assert "changed per step [1]" in w.text.value
    assert output_png(w.out) is not None  # the Output area holds the redrawn image


def test_mode_widget_toggles():
    w = V.ModeWidget(stats())
    assert w.current["mode"] == "learned" and np.isclose(w.current["final_dev_acc"], 0.5)
    w.mode.value = "random"
    assert w.current["mode"] == "random" and np.isclose(w.current["final_dev_acc"], 1.5)
    assert output_png(w.out) is not None


def fake_runs():
    def m(seed, l2a, rnd):
        return {"seed": seed, "test_examples": 100, "baselines": {
            "teacher (source+target)": {"test": 0.8}, "teacher (target)": {"test": 0.6},
            "student, no KD": {"test": 0.5}, "KD, target only": {"test": 0.55},
            "KD + random augmentation": {"test": rnd}, "KD + learned selection (L2A-style)": {"test": l2a}}}
    return {32: [m(0, 0.70, 0.60), m(1, 0.71, 0.62), m(2, 0.69, 0.61)],
            128: [m(0, 0.70, 0.72), m(1, 0.75, 0.70), m(2, 0.71, 0.71)]}


def test_summary_and_paired_verdict():
    runs = fake_runs()
    s = summarize(runs)
    assert np.isclose(s["KD + learned selection (L2A-style)"][32][0], 0.70) and s["teacher (target)"][32][2] == 3
    assert "70.0 ± 1.0 (3 seeds)" in summary_markdown(s)
    v = paired_verdict(runs, "KD + learned selection (L2A-style)", "KD + random augmentation")
    assert v[32]["verdict"] == "KD + learned selection (L2A-style) better"
    assert np.allclose(v[32]["diffs"], [0.10, 0.09, 0.08])
    assert v[128]["verdict"] == "within seed noise"
    one = paired_verdict({32: runs[32][:1]}, "KD, target only", "student, no KD")
    assert one[32]["verdict"].startswith("one seed")
