"""Meta-KD weights and losses: λ_i, corruption head, L_MT, stage 1 (per-instance vs batch-mean bug),
TKD, stage 2. Golden values computed by hand (spec §3-§5)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.config import MetaKDConfig, teacher_config_for
from hrkd_lite.methods.metakd.corruption import (
    DomainCorruptionHead,
    corruption_loss,
    meta_teacher_loss,
    shuffled_domain_labels,
)
from hrkd_lite.methods.metakd.losses import (
    intermediate_terms,
    joint_loss,
    stage1_loss,
    stage2_loss,
    tkd_loss,
)
from hrkd_lite.methods.metakd.weights import (
    expertise_weight_grid,
    expertise_weights,
    teacher_correctness_factor,
)

E = math.e


def test_expertise_weight_golden_values() -> None:
    # factor 1/(1+exp((1-p)^2)): p=1 -> 1/2; p=0 -> 1/(1+e)
    assert teacher_correctness_factor(torch.tensor(1.0)).item() == pytest.approx(0.5)
    assert teacher_correctness_factor(torch.tensor(0.0)).item() == pytest.approx(1 / (1 + E))  # 0.2689
    # logits [0, ln 3] -> p = [0.25, 0.75]; gold 1: (1-.75)^2 = .0625; t = 0.2
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    lam = expertise_weights(logits, torch.tensor([1, 0]), torch.tensor([0.2, -0.1]))
    assert lam[0].item() == pytest.approx(1.2 / (1 + math.exp(0.0625)), abs=1e-6)  # 0.5812562
    assert lam[1].item() == pytest.approx(0.9 / (1 + math.exp(0.5625)), abs=1e-6)  # gold 0: p=.25
    assert not lam.requires_grad
    p, t, grid = expertise_weight_grid(num_p=3, t_range=(0.0, 1.0), num_t=2)
    assert grid.shape == (2, 3)
    assert grid[1, 2].item() == pytest.approx(1.0)  # t=1, p=1 -> 2 * 0.5
    assert grid[0, 0].item() == pytest.approx(1 / (1 + E))
    with pytest.raises(HrkdError):
        expertise_weights(logits, torch.tensor([1]), torch.tensor([0.2, 0.1]))


def test_meta_teacher_loss_variants() -> None:
    ce, dom, t = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([0.5, 1.0])
    assert meta_teacher_loss(ce, dom, t, 0.5).item() == pytest.approx(2.625)  # mean(.5*2.5, 1*4)
    assert meta_teacher_loss(ce, dom, t, 0.5, "domain").item() == pytest.approx(2.875)  # 1.5 + .5*2.75
    assert meta_teacher_loss(ce, dom, None, 0.5).item() == pytest.approx(3.25)  # no t_i
    assert meta_teacher_loss(ce, None, t, 0.5).item() == pytest.approx(1.25)  # no corruption loss
    assert meta_teacher_loss(ce).item() == pytest.approx(1.5)  # plain CE (mix teacher)


def test_corruption_head_and_shuffled_labels() -> None:
    torch.manual_seed(0)
    head = DomainCorruptionHead(4, 3, dropout=0.1).eval()
    pooled = torch.randn(5, 4)
    doms = torch.tensor([0, 1, 2, 0, 1])
    out = head(pooled, doms)
    expect = head.corrupt(pooled + head.domain_embedding(doms))
    assert torch.allclose(out.feature, expect)
    assert torch.allclose(out.u, torch.tanh(expect))
    assert out.domain_logits.shape == (5, 3)
    assert head(pooled, 2).feature.shape == (5, 4)
    g = torch.Generator().manual_seed(1)
    shuf = shuffled_domain_labels(doms, g)
    assert sorted(shuf.tolist()) == sorted(doms.tolist())  # a permutation of the batch's labels
    # when the whole batch has one domain, shuffling changes nothing: plain CE against it
    same = torch.zeros(5, dtype=torch.long)
    ce = corruption_loss(out.domain_logits, same)
    assert torch.allclose(ce, torch.nn.functional.cross_entropy(out.domain_logits, same, reduction="none"))
    assert corruption_loss(out.domain_logits, doms, reduction="mean").dim() == 0


def test_stage1_per_instance_vs_batch_mean_bug() -> None:
    rep, att = torch.tensor([1.0, 5.0]), torch.tensor([2.0, 0.0])
    lam = torch.tensor([1.0, 3.0])
    # per instance: mean(1*(1+2+.5*.5), 3*(5+0+.25)) = mean(3.25, 15.75)
    assert stage1_loss(rep, att, torch.tensor(0.5), lam, 0.5).item() == pytest.approx(9.5)
    # bug: mean(λ) * (mean rep + mean att + γ tkd) = 2 * (3 + 1 + .25)
    assert stage1_loss(rep, att, 0.5, lam, 0.5, "batch_mean").item() == pytest.approx(8.5)
    assert stage1_loss(rep, att, None, None).item() == pytest.approx(4.0)  # plain TinyBERT
    # per-instance tkd (B,)
    assert stage1_loss(rep, att, torch.tensor([1.0, 0.0]), lam, 1.0).item() == pytest.approx((4 + 15) / 2)


def test_per_instance_weighting_reweights_examples_and_bug_does_not() -> None:
    lam = torch.tensor([0.3, 0.9, 0.6])
    for mode, expect in (("per_instance", lam / 3), ("batch_mean", lam.mean().expand(3) / 3)):
        rep = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        stage1_loss(rep, torch.zeros(3), None, lam, instance_weighting=mode).backward()
        assert torch.allclose(rep.grad, expect), mode
    # the bug's gradient is the same for every example whatever its λ_i


def test_intermediate_terms_per_instance_with_shared_fit() -> None:
    """Student 2 layers, teacher 4 (lpb = 2): attention targets [1, 3], hidden targets [0, 2, 4]."""
    fit = torch.nn.Identity()
    s_att = [torch.tensor([[[[1.0, -10000.0], [3.0, -10000.0]]]]), torch.zeros(1, 1, 2, 2)]
    t_att = [torch.zeros(1, 1, 2, 2), torch.tensor([[[[0.0, -10000.0], [1.0, -9000.0]]]]),
             torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)]
    s_hid = [torch.ones(1, 3, 2), torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)]
    t_hid = [torch.zeros(1, 3, 2), torch.ones(1, 3, 2), 2 * torch.ones(1, 3, 2), torch.zeros(1, 3, 2),
             3 * torch.ones(1, 3, 2)]
    s_out = SimpleNamespace(hidden_states=s_hid, attention_scores=s_att)
    t_out = SimpleNamespace(hidden_states=t_hid, attention_scores=t_att)
    rep, att = intermediate_terms(s_out, t_out, fit, [0, 2, 4])
    # masked entries -> 0 on both sides: layer 1 diffs (1, 0, 2, 0) -> 5/4; layer 2 vs ones -> 1
    assert att.shape == (1,) and att.item() == pytest.approx(1.25 + 1.0)
    # emb (1-0)^2 = 1; layer 1 (0-2)^2 = 4; layer 2 (0-3)^2 = 9
    assert rep.item() == pytest.approx(14.0)
    with pytest.raises(HrkdError):
        intermediate_terms(s_out, t_out, fit, [0, 2, 6])  # teacher has only 4 layers


def test_tkd_terms_per_instance() -> None:
    fit = torch.nn.Identity()
    sf, tf = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.zeros(2, 2)
    assert torch.allclose(tkd_loss(sf, tf, fit, reduction="none"), torch.tensor([2.5, 0.0]))
    assert tkd_loss(sf, tf, fit).item() == pytest.approx(1.25)
    double = torch.nn.Linear(2, 2, bias=False)
    torch.nn.init.eye_(double.weight)
    with torch.no_grad():
        double.weight.mul_(2)
    # EasyNLP bug: the teacher side goes through a projection too
    tf2 = torch.ones(2, 2)
    assert tkd_loss(sf, tf2, fit, teacher_fit=double, reduction="none")[1].item() == pytest.approx(4.0)


def test_stage2_soft_cross_entropy_temperature_and_weights() -> None:
    """Golden values by hand. Reference scale (default): the mean over batch AND classes (C = 2 here)."""
    s = torch.tensor([[math.log(3.0), 0.0]])
    t = torch.tensor([[0.0, math.log(3.0)]])
    # target [.25,.75], student log-probs [ln .75, ln .25]; per-example class sum:
    ce = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))  # 1.1116413
    assert stage2_loss(s, t, 1.0).item() == pytest.approx(ce / 2, abs=1e-6)  # reference: ÷ C
    assert stage2_loss(s, t, 1.0, reduction="batchmean").item() == pytest.approx(ce, abs=1e-6)  # the switch
    uni = torch.zeros(1, 2)
    assert stage2_loss(uni, t, 2.0).item() == pytest.approx(math.log(2.0) / 2, abs=1e-6)  # no T^2
    s2, t2 = torch.cat([s, uni]), torch.cat([t, t])
    w = torch.tensor([2.0, 0.0])
    assert stage2_loss(s2, t2, 1.0, w).item() == pytest.approx(ce / 2, abs=1e-6)  # (2·ce/2 + 0)/2
    assert stage2_loss(s2, t2, 1.0, w, reduction="batchmean").item() == pytest.approx(ce, abs=1e-6)
    # the reference formula itself: (-softmax(z_t) * log_softmax(z_s)).mean() over the (B, C) products
    ref = (-torch.softmax(t2, -1) * torch.log_softmax(s2, -1)).mean()
    assert stage2_loss(s2, t2, 1.0).item() == pytest.approx(ref.item(), abs=1e-6)
    both = joint_loss(torch.ones(1), torch.ones(1), None, s, t, None)
    assert both.item() == pytest.approx(2 + ce / 2, abs=1e-6)
    with pytest.raises(HrkdError, match="'sum'.*mean_classes, batchmean"):
        stage2_loss(s, t, 1.0, reduction="sum")


def test_config_defaults_and_validation() -> None:
    cfg = MetaKDConfig()
    assert (cfg.prototypes, cfg.use_domain_loss, cfg.domain_loss_weight, cfg.instance_weighting,
            cfg.tkd_target_fit_dense, cfg.tkd_weight, cfg.schedule, cfg.pred_temperature) == (
        "class", True, 0.5, "per_instance", False, 0.5, "two_stage", 1.0)
    assert cfg.token_mean_with_padding and not cfg.pred_lambda_weighting
    # model details at the authors' values: ÷C stage 2, h̄ after [CLS], relu head, teacher in train mode
    assert (cfg.pred_ce_reduction, cfg.corruption_skip_cls, cfg.head_input, cfg.teacher_train_mode) == (
        "mean_classes", True, "relu", True)
    with pytest.raises(HrkdError, match="'tanh'.*relu, dropout"):
        MetaKDConfig(head_input="tanh")
    with pytest.raises(HrkdError, match="valid choices"):
        MetaKDConfig(prototypes="cluster")
    with pytest.raises(HrkdError):
        MetaKDConfig(few_shot=0.0)
    with pytest.raises(HrkdError):
        MetaKDConfig(teacher_variant="single", zero_shot=True)
    mix = teacher_config_for("mix", cfg)
    assert not mix.use_sample_weights and not mix.use_domain_loss
