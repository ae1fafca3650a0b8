"""Notebook 03 views: figures build, statistics are right, widgets respond to ``.value`` headlessly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from hrkd_lite.errors import HrkdError
from hrkd_lite.experiments.nb03 import mean_over, noise_verdict
from hrkd_lite.methods.metakd.scores import score_examples
from hrkd_lite.viz import metakd_views as V
from hrkd_lite.viz.common import output_png

DOMAINS = ["books", "movies", "kitchen"]


def _image(out) -> bytes:
    """The PNG a widget's ``Output`` shows (what a reader sees), asserting there is one."""
    png = output_png(out)
    assert png is not None and png.startswith(b"\x89PNG"), "the widget's Output holds no PNG image"
    return png


def _scores():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(30, 5, generator=g) + 3
    doms = torch.arange(30) % 3
    labels = (torch.arange(30) // 3) % 2
    return score_examples(feats, doms, labels, 3, 2)


GRID = {v: {"teacher": {"books": 0.8 + i / 100, "movies": 0.7}, "student": {"books": 0.6, "movies": 0.5 + i / 10}}
        for i, v in enumerate(("single", "mix", "meta"))}


def test_static_figures_build():
    ps = _scores()
    figs = [V.plot_pca_prototypes(ps, DOMAINS, ["neg", "pos"]), V.plot_score_histograms(ps, DOMAINS),
            V.plot_probe({"chance": 0.33, "a": 0.9, "b": 0.5}),
            V.plot_lambda_surface({"p": np.array([0.2, 0.9]), "t": np.array([0.1, 1.3])}),
            V.plot_teacher_student_bars(GRID, ["books", "movies"]),
            V.plot_metakd_few_shot({"meta": {0.25: 0.6, 1.0: 0.7}}, "books"),
            V.plot_zero_shot({"a": 0.5, "b": 0.6}, "books"),
            V.plot_weighting(np.array([0.3, 0.7]), {"per_instance": {"books": 0.6}, "batch_mean": {"books": 0.5}}),
            V.plot_tkd_sweep({0.0: 0.5, 0.5: 0.6}, "books", 0.5)]
    assert all(isinstance(f, Figure) for f in figs)


def test_few_shot_plot_has_teacher_and_chance_lines():
    ax = V.plot_metakd_few_shot({"meta": {0.25: 0.6, 1.0: 0.7}}, "books", teacher={"meta": {0.25: 0.65, 1.0: 0.8}},
                         chance=0.5).axes[0]
    lines = {ln.get_label(): list(ln.get_ydata()) for ln in ax.lines}
    assert lines["student of meta-teacher"] == pytest.approx([0.6, 0.7])
    assert lines["meta-teacher"] == pytest.approx([0.65, 0.8])
    assert lines["chance (0.50)"] == pytest.approx([0.5, 0.5])
    assert "one seed" in ax.get_title() and ax.get_ylim() == (0, 1.02)


def test_score_histograms_show_each_domains_scores_with_a_density():
    ps = _scores()
    fig = V.plot_score_histograms(ps, DOMAINS)
    s, dom = ps.scores.numpy(), ps.domains.numpy()
    assert len(fig.axes) == len(DOMAINS)
    for k, ax in enumerate(fig.axes):
        vals = s[dom == k]
        assert len(ax.patches) == 24  # shared bins
        assert sum(p.get_height() for p in ax.patches) == len(vals)  # every score counted once
        kde, mean_line = ax.lines  # seaborn's density curve, then the mean marker
        assert len(kde.get_xdata()) > 50 and (kde.get_ydata() >= 0).all()
        assert mean_line.get_xdata()[0] == pytest.approx(vals.mean())


def test_pca_and_extremes():
    x = np.array([[0.0, 0, 0], [2, 0, 0], [4, 0, 0], [6, 0, 1e-3]])
    xy, extra = V.pca_2d(x, np.array([[3.0, 0, 0]]))
    assert np.allclose(np.abs(xy[:, 0]), [3, 1, 1, 3], atol=1e-3) and np.allclose(extra[0], 0, atol=1e-3)
    ps = _scores()
    texts = [[f"{d}-{i}" for i in range(10)] for d in DOMAINS]
    ext = V.extreme_sentences(ps, texts, DOMAINS, k=3)
    s0 = ps.scores[ps.domains == 0].numpy()
    assert ext["books"]["top"][0] == (pytest.approx(float(s0.max())), f"books-{int(s0.argmax())}")
    assert ext["books"]["bottom"][0][0] == pytest.approx(float(s0.min()))
    assert "== movies: bottom 3" in V.format_extremes(ext)
    with pytest.raises(HrkdError):
        V.extreme_sentences(ps, [t[:5] for t in texts], DOMAINS)


def test_correlation_summary_hand_values():
    x = np.array([1.0, 2, 3, 4, 5])
    s = V.correlation_summary(x, 2 * x + 1)
    assert s["pearson"] == pytest.approx(1.0) and s["spearman"] == pytest.approx(1.0) and s["n"] == 5
    s = V.correlation_summary(x, np.array([1.0, 3, 2, 5, 4]))
    assert s["pearson"] == pytest.approx(0.8)  # cov 8 / (sqrt(10) sqrt(10))
    assert s["spearman"] == pytest.approx(0.8)
    assert s["ci_low"] <= s["pearson"] <= s["ci_high"]
    assert V.correlation_summary(x, np.array([1.0, 1, 2, 2, 3]))["spearman"] == pytest.approx(0.9486833, abs=1e-6)


def test_effective_weights_and_noise_verdict():
    lam = np.array([0.3, 0.6, 0.9])
    assert np.allclose(V.effective_weights(lam, "per_instance"), lam)
    assert np.allclose(V.effective_weights(lam, "batch_mean"), [0.6, 0.6, 0.6])
    v = noise_verdict(0.8, 0.6, 100)  # se = sqrt(.16/100 + .24/100) = 0.0632
    assert v["se"] == pytest.approx(0.0632456, abs=1e-6) and v["verdict"] == "gain"
    assert noise_verdict(0.62, 0.6, 100)["verdict"] == "within noise"
    assert noise_verdict(0.5, 0.8, 100)["verdict"] == "loss"
    assert mean_over({"a": 0.5, "b": 0.7, "average": 0.0}) == pytest.approx(0.6)


def test_widgets_respond_to_value_headlessly():
    toggle = {"per_instance": {"books": 0.6}, "batch_mean": {"books": 0.5}}
    ww = V.WeightingWidget(np.array([0.3, 0.6, 0.9]), toggle)
    assert ww.current["spread"] == pytest.approx(0.6)
    ww.control.value = "batch_mean"
    assert ww.current["spread"] == 0.0 and ww.current["accuracy"] == {"books": 0.5}
    assert np.allclose(ww.current["weights"], 0.6)


def test_every_widget_redraws_its_image():
    toggle = {"per_instance": {"books": 0.6}, "batch_mean": {"books": 0.5}}
    cases = [(V.WeightingWidget(np.array([0.3, 0.6, 0.9]), toggle), "batch_mean")]
    for w, value in cases:
        before = _image(w.out)
        w.control.value = value
        after = _image(w.out)
        assert after == w.png and after != before, type(w).__name__


@pytest.mark.parametrize("targets", [["books"], ["books", "movies"]])
def test_bar_chart_title_fits_inside_the_figure(targets):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = V.plot_teacher_student_bars(GRID, targets)
    FigureCanvasAgg(fig).draw()
    box = fig.axes[0].title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (box, fig.bbox.width)
