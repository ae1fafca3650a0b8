"""Notebook 03's transferability-score explorer: pick a domain, see its highest- and lowest-scoring
training sentences, with t_i recomputed from the encoder features under the prototype switches.

t_i (docs/methods/meta_kd.md §3) is recomputed on every change by the package's pure tensor function
:func:`hrkd_lite.metakd.scores.score_examples` from the features h(x) a :class:`PrototypeScores` holds,
so switching between class- and domain-wise prototypes, or between the code's and the paper's formula,
changes the ranking, not just the view. Nothing here runs an encoder or trains.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.scores import PrototypeScores, score_examples
from hrkd_lite.viz.common import ControlView
from hrkd_lite.viz.stats import score_histogram

__all__ = ["TransferabilityExplorer", "plot_extremes", "rescore", "ranked"]


def rescore(ps: PrototypeScores, num_domains: int, num_labels: int, mode: str = "class",
            formula: str = "code") -> PrototypeScores:
    """t_i of the same rows under other switches (same features, domains and labels)."""
    return score_examples(ps.features, ps.domains, ps.labels, num_domains, num_labels, mode, formula)


def ranked(ps: PrototypeScores, domain: int, k: int) -> dict[str, Any]:
    """Domain ``domain``'s rows by t_i: ``top``/``bottom`` = row indices within the domain (k each, highest
    first / lowest first), ``scores`` (N_d,) and their ``top_scores``/``bottom_scores``."""
    s = ps.for_domain(domain).numpy()
    if len(s) == 0:
        raise HrkdError(f"domain {domain} has no scored rows")
    k = max(1, min(int(k), len(s)))
    order = np.argsort(-s, kind="stable")
    top, bottom = order[:k], order[::-1][:k]
    return {"scores": s, "top": top, "bottom": bottom, "top_scores": s[top], "bottom_scores": s[bottom]}


def plot_extremes(scores: np.ndarray, top: np.ndarray, bottom: np.ndarray, texts: Sequence[str], domain: str,
                  color: str = "C0", width: int = 60) -> Figure:
    """Left: the domain's t_i histogram with the top (green) and bottom (red) rows marked. Right: those
    rows' scores as horizontal bars labelled with the (shortened) sentences."""
    fig = Figure(figsize=(12, 0.9 + 0.32 * (len(top) + len(bottom))), layout="constrained")
    hist, bars = fig.subplots(1, 2, width_ratios=(1, 1.6))
    score_histogram(hist, scores, bins=20, color=color, alpha=0.7)
    for i in top:
        hist.axvline(scores[i], color="green", lw=1)
    for i in bottom:
        hist.axvline(scores[i], color="red", lw=1)
    hist.set_xlabel("prototype score t_i")
    hist.set_ylabel("training rows")
    hist.set_title(f"{domain}: {len(scores)} rows (green = top, red = bottom)", fontsize=9)
    rows = [*top, *bottom[::-1]]
    vals = [scores[i] for i in rows]
    y = np.arange(len(rows))[::-1]
    bars.barh(y, vals, color=["green"] * len(top) + ["red"] * len(bottom), alpha=0.7)
    bars.set_yticks(y, [textwrap.shorten(texts[i], width=width, placeholder=" …") for i in rows], fontsize=7)
    bars.set_xlabel("prototype score t_i")
    lo, hi = min(vals), max(vals)
    pad = 0.1 * (hi - lo or 1.0)
    bars.set_xlim(min(0.0, lo - pad), hi + pad)
    bars.set_title("highest (top) and lowest (bottom) scoring sentences", fontsize=9)
    return fig


class TransferabilityExplorer(ControlView):
    """Controls: ``domain``, ``k`` (sentences per end), ``mode`` (class / domain prototypes), ``formula``
    (code / paper). Every change recomputes t_i for all rows, then ranks the chosen domain's rows.

    Args:
        ps: scores with the features they came from (``meta_teacher.prototype_scores``).
        texts: per domain, its training sentences in the row order of ``ps``.
        domains, num_labels: names of the K domains and the number of classes.
    """

    def __init__(self, ps: PrototypeScores, texts: Sequence[Sequence[str]], domains: Sequence[str],
                 num_labels: int, k: int = 5) -> None:
        import ipywidgets as w

        if len(texts) != len(domains):
            raise HrkdError(f"need one list of texts per domain: {len(texts)} lists for {len(domains)} domains")
        self.ps, self.texts, self.domains, self.num_labels = ps, [list(t) for t in texts], list(domains), num_labels
        self.domain = w.Dropdown(options=list(domains), value=domains[0], description="domain")
        self.k = w.IntSlider(value=k, min=1, max=10, description="sentences")
        self.mode = w.Dropdown(options=["class", "domain"], value=ps.mode, description="prototypes")
        self.formula = w.Dropdown(options=["code", "paper"], value=ps.formula, description="t_i formula")
        super().__init__([self.domain, self.k, self.mode, self.formula])
        self.update()

    def render(self) -> tuple[Figure, str, dict[str, Any]]:
        d = self.domains.index(self.domain.value)
        ps = rescore(self.ps, len(self.domains), self.num_labels, self.mode.value, self.formula.value)
        r = ranked(ps, d, self.k.value)
        texts = self.texts[d]
        if len(texts) != len(r["scores"]):
            raise HrkdError(f"{self.domain.value}: {len(r['scores'])} scores but {len(texts)} texts")
        fig = plot_extremes(r["scores"], r["top"], r["bottom"], texts, self.domain.value, f"C{d}")
        lines = [f"{self.domain.value}, {self.mode.value}-wise prototypes, {self.formula.value} formula: "
                 f"mean t = {r['scores'].mean():.3f}"]
        for name in ("top", "bottom"):
            lines.append(f"{name}:")
            lines += [f"  {r['scores'][i]:+.3f}  {textwrap.shorten(texts[i], 110, placeholder=' …')}"
                      for i in r[name]]
        current = {"domain": self.domain.value, "mode": self.mode.value, "formula": self.formula.value,
                   "top_scores": r["top_scores"], "bottom_scores": r["bottom_scores"], "top": r["top"],
                   "bottom": r["bottom"], "top_texts": [texts[i] for i in r["top"]], "scores": r["scores"]}
        return fig, html.escape("\n".join(lines)), current
