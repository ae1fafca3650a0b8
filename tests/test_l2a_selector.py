"""L2A-style selector: features, the REINFORCE gradient, learning toward a rewarded feature, baselines."""

from __future__ import annotations

import math

import pytest
import torch

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.l2a.config import FEATURES, L2AConfig, config_for
from hrkd_lite.methods.l2a.selector import LogisticSelector, MovingAverageBaseline, candidate_features


def test_feature_hand_values():
    t = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    s = candidate_features(t, t.clone(), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([1.0, 0.0]),
                           torch.tensor([0, 1]), torch.tensor([1, 3]), max_step=3)
    assert s.shape == (2, len(FEATURES))
    assert s[0].tolist() == pytest.approx([0.5, 1.0, 0.0, 1.0, 0.0, 1 / 3], abs=1e-6)
    assert s[1, 0].item() == pytest.approx(1 / (1 + math.exp(-10)), abs=1e-6)
    assert s[1, 2].item() == pytest.approx(0.0, abs=1e-6) and s[1, 3].item() == pytest.approx(0.0)
    sub = candidate_features(t, t, torch.ones(2, 2), torch.ones(2), torch.zeros(2), torch.ones(2), 1,
                             names=("from_source", "chain_step"))
    assert sub.shape == (2, 2)


def test_grad_log_prob_matches_autograd():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(20, 3, generator=g)
    sel = LogisticSelector(3)
    sel.phi = torch.randn(4, generator=g, dtype=torch.float64)
    a, _ = sel.sample(s, g)
    phi = sel.phi.clone().requires_grad_(True)
    sel.phi = phi
    sel.log_prob(s, a).backward()
    sel.phi = phi.detach()
    assert torch.allclose(sel.grad_log_prob(s, a), phi.grad / 20)


def test_reinforce_moves_weight_toward_rewarded_feature():
    g = torch.Generator().manual_seed(0)
    sel, base = LogisticSelector(3, lr=1.0), MovingAverageBaseline(0.8)
    for _ in range(300):
        s = torch.rand(64, 3, generator=g)
        a, _ = sel.sample(s, g)
        kept = a.bool()
        reward = float(s[kept, 0].mean() - s[~kept, 0].mean()) if 0 < kept.sum() < 64 else 0.0
        sel.update(s, a, base.advantage_and_update(reward))
    assert sel.phi[0] > 1.0 and sel.phi[0] > 3 * abs(sel.phi[1]) and sel.phi[0] > 3 * abs(sel.phi[2])
    probe = torch.tensor([[0.9, 0.5, 0.5], [0.1, 0.5, 0.5]])
    p = sel.keep_prob(probe)
    assert p[0] > p[1]


def test_sampling_is_stochastic_and_starts_at_one_half():
    sel = LogisticSelector(2)
    s = torch.zeros(1000, 2)
    assert torch.allclose(sel.keep_prob(s), torch.full((1000,), 0.5, dtype=torch.float64))
    a, _ = sel.sample(s, torch.Generator().manual_seed(0))
    assert 400 < int(a.sum()) < 600


def test_baselines():
    b = MovingAverageBaseline(0.5, normalize=False)
    assert b.advantage_and_update(2.0) == 0.0  # the first reward only initialises b
    assert b.advantage_and_update(4.0) == 2.0 and b.value == 3.0
    n = MovingAverageBaseline(0.5, kind="none", normalize=False)
    assert n.advantage_and_update(2.0) == 2.0 and n.current() == 0.0
    z = MovingAverageBaseline(0.5)
    z.advantage_and_update(0.01)
    assert z.advantage_and_update(0.03) == pytest.approx(1.0)  # (R - b) / rms, rms of one value = |R - b|
    assert abs(z.advantage_and_update(0.0)) < 2.0


def test_config_switches_and_errors():
    cfg = L2AConfig()
    assert (cfg.teacher_data, cfg.generator, cfg.use_selector, cfg.reward, cfg.reward_baseline, cfg.kd_loss,
            tuple(cfg.student_layers), cfg.selector_features) == (
        "source+target", "encoder_mlm", True, "dev_loss", "moving_average", "logit", (3, 6), FEATURES)
    assert cfg.source_seed_share > 0
    assert config_for("ci").episodes < config_for("cpu").episodes
    for bad in (dict(reward="test_acc"), dict(mask_rate=1.5), dict(selector_features=("nope",)),
                dict(student_layers=(1, 2))):
        with pytest.raises(HrkdError):
            L2AConfig(**bad)
