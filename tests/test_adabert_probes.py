"""Probe-based KD: layer maps, per-layer KL/CE with hand values, attentive weights."""

from __future__ import annotations

import math

import pytest
import torch

from hrkd_lite.distill.layer_maps import adabert_map
from hrkd_lite.methods.adabert.probes import (
    attentive_weights,
    layer_map,
    per_example_kd,
    probe_kd_loss,
    train_probes,
)


def test_layer_maps():
    assert layer_map("ceil", 12, 8) == [0, 2, 3, 5, 6, 8, 9, 11, 12]
    assert layer_map("floor", 12, 8) == [0, 1, 3, 4, 6, 7, 9, 10, 12]
    assert layer_map("tf", 12, 3) == [0, 3, 6, 9]
    assert layer_map("ceil", 6, 4) == [0, 2, 3, 5, 6] == [0, *adabert_map(6, 4)]
    assert layer_map("floor", 6, 4) == [0, 1, 3, 4, 6]
    assert layer_map("ceil", 6, 0) == [0]


def test_per_example_kd_hand_values():
    t = torch.tensor([[math.log(0.8), math.log(0.2)]])
    s = torch.tensor([[math.log(0.5), math.log(0.5)]])
    kl = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    ce = -(0.8 * math.log(0.5) + 0.2 * math.log(0.5))
    assert per_example_kd(t, s, "kl").item() == pytest.approx(kl, abs=1e-6)
    assert per_example_kd(t, s, "ce").item() == pytest.approx(ce, abs=1e-6)
    assert per_example_kd(t, t, "kl").item() == pytest.approx(0.0, abs=1e-7)


def _teacher_probe():
    # B = 2 examples, J + 1 = 3 teacher layers, C = 2; layer 2's probe is right (label 1), layer 1 wrong
    lp = lambda p: [math.log(p), math.log(1 - p)]  # noqa: E731
    return torch.tensor([[lp(0.5), lp(0.9), lp(0.1)], [lp(0.5), lp(0.9), lp(0.1)]]), torch.tensor([1, 1])


def test_attentive_weights_sum_to_one_and_favour_the_right_layer():
    tp, y = _teacher_probe()
    for mode in ("batch", "instance", "uniform"):
        w = attentive_weights(tp, y, [0, 1, 2], mode)
        assert w.shape == (2, 3) and torch.allclose(w.sum(1), torch.ones(2))
    w = attentive_weights(tp, y, [0, 1, 2], "batch")[0]
    assert w[2] > w[0] > w[1]
    # hand value: w_i ∝ exp(-CE_i) = p_i(y): 0.5, 0.1, 0.9
    assert torch.allclose(w, torch.tensor([0.5, 0.1, 0.9]) / 1.5, atol=1e-6)


def test_probe_kd_loss_hand_value():
    tp, y = _teacher_probe()
    J = 2
    student = torch.zeros(3, 2, 2)  # K_max + 1 = 3 student probes, uniform predictions
    # depth K = 2, ceil map [0, 1, 2]; uniform weights -> mean over i of KL(P^T_i || uniform)
    kl = lambda p: p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)  # noqa: E731
    expect_uniform = (kl(0.5) + kl(0.9) + kl(0.1)) / 3
    got = probe_kd_loss(student, tp, y, 2, J, weighting="uniform")
    assert got.item() == pytest.approx(expect_uniform, abs=1e-6)
    expect_att = (0.5 * kl(0.5) + 0.1 * kl(0.9) + 0.9 * kl(0.1)) / 1.5
    assert probe_kd_loss(student, tp, y, 2, J, weighting="batch").item() == pytest.approx(expect_att, abs=1e-6)
    # depth 1: map [0, 2] (ceil 1*2/1 = 2)
    expect_k1 = (0.5 * kl(0.5) + 0.9 * kl(0.1)) / 1.4
    assert probe_kd_loss(student, tp, y, 1, J).item() == pytest.approx(expect_k1, abs=1e-6)


def test_probe_training_learns_a_separable_layer():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (200,), generator=g)
    noise = torch.randn(200, 2, 4, generator=g)
    feats = noise.clone()
    feats[:, 1, 0] += 4 * (2 * y - 1)  # layer 1 carries the label, layer 0 does not
    probes = train_probes(feats, y, 2, epochs=20, lr=0.05)
    acc = (probes(feats).argmax(-1) == y.unsqueeze(1)).float().mean(0)
    assert acc[1] > 0.95 and acc[0] < 0.7
