"""Notebook 03's transferability-score explorer, headless: set a control, check the recomputed ranking."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hrkd_lite.errors import HrkdError  # noqa: E402
from hrkd_lite.methods.metakd.scores import score_examples  # noqa: E402
from hrkd_lite.viz import transfer_explorer as TE  # noqa: E402
from hrkd_lite.viz.common import output_png  # noqa: E402

DOMAINS = ["books", "dvd", "kitchen"]


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    n = 30
    feats = torch.randn(3 * n, 16, generator=g) + torch.arange(3).repeat_interleave(n)[:, None] * 0.5
    doms = torch.arange(3).repeat_interleave(n)
    labels = torch.randint(0, 2, (3 * n,), generator=g)
    ps = score_examples(feats, doms, labels, 3, 2)
    texts = [[f"{name} review {i} <b>&" for i in range(n)] for name in DOMAINS]
    return ps, texts


def test_ranked_returns_the_extremes(data):
    ps, _ = data
    r = TE.ranked(ps, 1, 4)
    s = ps.for_domain(1).numpy()
    assert np.array_equal(r["top_scores"], np.sort(s)[::-1][:4])
    assert np.array_equal(r["bottom_scores"], np.sort(s)[:4])
    assert TE.ranked(ps, 0, 99)["top"].size == 30  # k capped at the domain's rows


def test_explorer_recomputes_scores_on_every_control(data):
    ps, texts = data
    ex = TE.TransferabilityExplorer(ps, texts, DOMAINS, num_labels=2, k=3)
    assert output_png(ex.out).startswith(b"\x89PNG")
    assert np.allclose(ex.current["top_scores"], np.sort(ps.for_domain(0).numpy())[::-1][:3])
    ex.domain.value = "kitchen"
    assert ex.current["domain"] == "kitchen" and ex.current["top_texts"][0].startswith("kitchen")
    ex.k.value = 2
    assert len(ex.current["top"]) == len(ex.current["bottom"]) == 2
    ex.formula.value = "paper"
    paper = score_examples(ps.features, ps.domains, ps.labels, 3, 2, "class", "paper").for_domain(2).numpy()
    assert np.allclose(ex.current["scores"], paper)
    assert ex.current["scores"].max() > 1.0 or not np.allclose(paper, ps.for_domain(2).numpy())
    ex.mode.value = "domain"
    dom = score_examples(ps.features, ps.domains, ps.labels, 3, 2, "domain", "paper").for_domain(2).numpy()
    assert np.allclose(ex.current["scores"], dom) and ex.current["mode"] == "domain"
    assert "&lt;b&gt;&amp;" in ex.text.value and output_png(ex.out) == ex.png


def test_extremes_figure_plots_the_chosen_scores(data):
    ps, texts = data
    r = TE.ranked(ps, 0, 3)
    fig = TE.plot_extremes(r["scores"], r["top"], r["bottom"], texts[0], "books")
    hist, bars = fig.axes[:2]
    widths = [p.get_width() for p in bars.patches]
    assert np.allclose(widths, [*r["top_scores"], *r["bottom_scores"][::-1]])
    assert bars.get_xlabel() == hist.get_xlabel() == "prototype score t_i"
    marked = sorted(float(line.get_xdata()[0]) for line in hist.lines if line.get_color() in ("green", "red"))
    assert np.allclose(marked, sorted([*r["top_scores"], *r["bottom_scores"]]))


def test_text_count_mismatch_is_an_error(data):
    ps, texts = data
    with pytest.raises(HrkdError, match="one list of texts per domain"):
        TE.TransferabilityExplorer(ps, texts[:2], DOMAINS, 2)
