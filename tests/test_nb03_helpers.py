"""Notebook 03's helpers: the correlation verdict, few-shot teachers read back, synthetic t_i with its truth."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hrkd_lite.data import load_data
from hrkd_lite.experiments import nb03 as S
from hrkd_lite.methods.metakd import MetaKDConfig
from hrkd_lite.methods.metakd.scores import score_examples
from hrkd_lite.methods.shared.context import prepare
from hrkd_lite.profiles import get_profile


def test_correlation_verdict_needs_the_interval_to_exclude_zero():
    assert S.correlation_verdict({"ci_low": 0.1, "ci_high": 0.3}).startswith("positive")
    assert S.correlation_verdict({"ci_low": -0.3, "ci_high": -0.01}).startswith("negative")
    assert S.correlation_verdict({"ci_low": -0.1, "ci_high": 0.3}).startswith("not distinguishable")


def test_few_shot_teachers_reads_what_the_curve_wrote(tmp_path):
    for v, f, acc in (("meta", 0.25, 0.6), ("meta", 1.0, 0.8)):
        (tmp_path / f"metrics_fewshot_{v}_{f:g}.json").write_text(
            json.dumps({"per_target": {"books": {"teacher_test": acc}}}))
    ctx = SimpleNamespace(out_dir=tmp_path)
    assert S.few_shot_teachers(ctx, "books", {"meta": {0.25: 0.5, 1.0: 0.7}}) == {"meta": {0.25: 0.6, 1.0: 0.8}}


def test_synthetic_scores_reuse_synthetic_and_align_the_truth(tmp_path):
    profile = get_profile("ci")
    data = load_data("synthetic", profile=profile, seed=0)
    ctx = prepare(profile, data, seed=0, out_dir=tmp_path, progress=False)
    n = sum(len(data.split(d, "train")) for d in data.domains)
    ps = score_examples(torch.randn(n, 8), torch.zeros(n, dtype=torch.long).index_fill_(0, torch.arange(n // 2), 1),
                        torch.arange(n) % 2, 2, 2)
    c2, ps2, share = S.synthetic_scores(ctx, ps, MetaKDConfig(), tmp_path / "syn")
    assert c2 is ctx and ps2 is ps and share.shape == (n,)
    assert np.all((share >= 0) & (share <= 1))
    with pytest.raises(Exception, match="transferable shares"):
        S.synthetic_scores(ctx, score_examples(torch.randn(4, 8), torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 1, 1]),
                                               2, 2), MetaKDConfig(), tmp_path / "syn")
