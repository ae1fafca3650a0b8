"""Notebook 05 views: the Pareto front, what the figures plot, and the widget driven headlessly."""

from __future__ import annotations

import numpy as np
import pytest

from hrkd_lite.experiments import nb05
from hrkd_lite.viz import comparison_views as V
from hrkd_lite.viz.common import output_png
from tests.test_reproduce import fake_runs


def test_pareto_front_keeps_only_undominated_points_sorted_by_cost():
    xs = [1.0, 2.0, 3.0, 2.0, 4.0]
    ys = [70.0, 80.0, 75.0, 80.0, 90.0]
    assert V.pareto_front(xs, ys) == [0, 1, 3, 4]  # (3, 75) is beaten by (2, 80); ties both stay
    assert V.pareto_front([1.0, 1.0], [60.0, 50.0]) == [0]


def rows():
    return nb05.summarize(fake_runs())


def test_pareto_plot_draws_one_point_per_method_with_seed_spread():
    fig = V.plot_pareto(rows(), ("params", "ms32"))
    assert len(fig.axes) == 2
    ax = fig.axes[1]
    assert ax.get_xscale() == "linear"  # 80 to 200 ms: less than a decade, so no log axis
    assert "batch 32" in ax.get_xlabel() and "3 seed(s)" in ax.get_title()
    pts = {(round(float(c.lines[0].get_xdata()[0]), 1), round(float(c.lines[0].get_ydata()[0]), 1))
           for c in ax.containers}
    assert pts == {(200.0, 85.0), (80.0, 70.0)}  # teacher and TinyBERT; the L2A rows are left out
    bars = [c for c in ax.containers if c.lines[2]]  # error bars: sd over seeds (three seeds)
    assert len(bars) == 2
    sd = np.std([65.0, 75.0, 70.0], ddof=1)
    segs = [s for c in bars for s in c.lines[2][0].get_segments()]
    assert any(np.isclose(s[1][1] - s[0][1], 2 * sd) for s in segs)
    front = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert front and list(front[0].get_xdata()) == [80.0, 200.0]  # both are on the front
    y_from = ax.get_ylim()[0]
    assert {t.get_text() for t in ax.texts} == {"TEACHER", "TINYBERT", f"y axis starts at {y_from:.0f}%, not 0"}


def test_pareto_axis_is_logarithmic_over_a_decade_of_cost():
    import matplotlib.pyplot as plt

    r = rows()
    fig, ax = plt.subplots()
    wide = [rr if rr.key != "tinybert" else type(rr)(**{**vars(rr), "ms32": 2.0}) for rr in r]
    got = V.draw_pareto(ax, wide, "ms32")
    assert got["log_x"] and ax.get_xscale() == "log" and got["points"]["tinybert"][0] == 2.0
    plt.close(fig)


def test_cost_plot_bars_are_the_measured_values():
    fig = V.plot_costs(rows())
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths == [30.0, 10.0, 10.0]  # teacher, TinyBERT, the L2A run (its reported student's row)
    assert [p.get_width() for p in fig.axes[2].patches] == [640.0] * 3


def test_widget_recomputes_on_every_control_headlessly():
    r = rows()
    other = [rr for rr in r if rr.key != "tinybert"]
    view = V.ComparisonView({"synthetic": r, "amazon": other})
    assert view.current["data"] == "synthetic" and view.current["metric"] == "params"
    assert set(view.current["points"]) == {"teacher", "tinybert"} and output_png(view.out) == view.png
    first = view.png
    view.metric.value = "ms1"
    assert view.current["metric"] == "ms1" and view.current["points"]["teacher"][0] == pytest.approx(10.0)
    assert view.png != first
    view.methods.value = ("tinybert",)
    assert list(view.current["points"]) == ["tinybert"] and view.current["front"] == ["tinybert"]
    view.data.value = "amazon"
    assert view.current["points"] == {} and "0 methods" in view.text.value
    view.methods.value = ("teacher", "tinybert")
    assert list(view.current["points"]) == ["teacher"]
