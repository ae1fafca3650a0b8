"""Meta-KD prototype scores t_i: pooling, prototypes, both formulas (hand-computed values, spec §3)."""

from __future__ import annotations

import math

import pytest
import torch

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.scores import (
    compute_prototypes,
    extract_features,
    mean_pool,
    score_examples,
    transferability_scores,
)


def test_mean_pool_with_and_without_padding() -> None:
    # tokens: [CLS]=10, 1, 2, pad=100
    hidden = torch.tensor([[[10.0], [1.0], [2.0], [100.0]]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert mean_pool(hidden, mask).item() == pytest.approx((1 + 2 + 100) / 3)  # authors' quirk
    assert mean_pool(hidden, mask, include_padding=False).item() == pytest.approx(1.5)
    assert mean_pool(hidden, mask, skip_cls=False).item() == pytest.approx(113 / 4)
    assert mean_pool(hidden, mask, include_padding=False, skip_cls=False).item() == pytest.approx(13 / 3)
    with pytest.raises(HrkdError):
        mean_pool(hidden, None, include_padding=False)


def _domain_rows() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    doms = torch.tensor([0, 0, 1, 1, 2, 2])
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    return feats, doms, labels


def test_domain_wise_scores_code_and_paper_formula() -> None:
    feats, doms, labels = _domain_rows()
    protos = compute_prototypes(feats, doms, labels, 3, 2, mode="domain")
    assert protos.shape == (3, 2, 2)
    assert torch.allclose(protos[:, 0], protos[:, 1])  # broadcast over classes
    assert torch.allclose(protos[2, 0], torch.tensor([1.0, 1.0]))
    t = transferability_scores(feats, doms, labels, protos, "code")
    # x=[1,0] in domain 0: own cos 1; mean of others [0.5, 1] -> cos 0.5/sqrt(1.25)
    c = 0.5 / math.sqrt(1.25)
    assert t[0].item() == pytest.approx(0.5 * (1 + c), abs=1e-6)  # 0.7236068
    assert t[2].item() == pytest.approx(0.5 * (1 + c), abs=1e-6)
    assert t[4].item() == pytest.approx(1.0, abs=1e-6)  # [1,1]: others' mean [0.5,0.5] is parallel
    tp = transferability_scores(feats, doms, labels, protos, "paper")
    # own 1 + mean(cos([1,0],[0,1]) = 0, cos([1,0],[1,1]) = 1/sqrt2)
    assert tp[0].item() == pytest.approx(1 + 0.5 / math.sqrt(2), abs=1e-6)  # 1.3535534
    assert tp[4].item() == pytest.approx(1 + 1 / math.sqrt(2), abs=1e-6)


def test_class_wise_prototypes_and_scores() -> None:
    feats = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    doms = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    labels = torch.tensor([0, 0, 1, 0, 1, 0, 1])
    res = score_examples(feats, doms, labels, 3, 2, mode="class")
    p = res.prototypes
    assert torch.allclose(p[0, 0], torch.tensor([1.0, 1.0]))
    assert torch.allclose(p[0, 1], torch.tensor([1.0, 0.0]))
    assert torch.allclose(p[2, 1], torch.tensor([1.0, 1.0]))
    # row 0 (d0, c0, [2,0]): own [1,1] -> 1/sqrt2; others mean([1,0],[0,1]) = [.5,.5] -> 1/sqrt2
    assert res.scores[0].item() == pytest.approx(1 / math.sqrt(2), abs=1e-6)
    # row 2 (d0, c1, [1,0]): own [1,0] -> 1; others mean([0,1],[1,1]) = [.5,1] -> 0.5/sqrt(1.25)
    assert res.scores[2].item() == pytest.approx(0.5 * (1 + 0.5 / math.sqrt(1.25)), abs=1e-6)
    assert res.for_domain(2).shape == (2,)
    # domain-wise gives different numbers on the same rows (one centroid per domain)
    res_d = score_examples(feats, doms, labels, 3, 2, mode="domain")
    assert not torch.allclose(res_d.scores, res.scores)


def test_empty_class_cell_falls_back_and_empty_domain_raises() -> None:
    feats, doms, labels = _domain_rows()
    labels = torch.tensor([0, 0, 0, 1, 0, 1])  # domain 0 has no class 1
    with pytest.warns(UserWarning, match="domain prototype"):
        p = compute_prototypes(feats, doms, labels, 3, 2, mode="class")
    assert torch.allclose(p[0, 1], torch.tensor([1.0, 0.0]))
    with pytest.raises(HrkdError, match="domain ids \\[3\\]"):
        compute_prototypes(feats, doms, labels, 4, 2)
    with pytest.raises(HrkdError, match="at least 2 domains"):
        transferability_scores(feats, torch.zeros(6, dtype=torch.long), labels, p[:1])


def test_extract_features_batches_and_restores_mode() -> None:
    class Enc(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            class Out:
                last_hidden_state = input_ids.float().unsqueeze(-1).repeat(1, 1, 2)
            return Out()

    enc = Enc().train()
    ids = torch.tensor([[101, 4, 6, 0], [101, 8, 0, 0], [101, 2, 2, 2]])
    mask = (ids > 0).long()
    f = extract_features(enc, ids, mask, batch_size=2)
    assert f.shape == (3, 2) and enc.training
    assert f[0, 0].item() == pytest.approx(10 / 3)
    f2 = extract_features(enc, ids, mask, batch_size=2, include_padding=False)
    assert f2[1, 0].item() == pytest.approx(8.0)
