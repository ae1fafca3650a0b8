"""Straight-through Gumbel-softmax: one-hot forward, gradient to α; temperature schedules."""

from __future__ import annotations

import math

import torch

from hrkd_lite.methods.adabert.gumbel import argmax_onehot, gumbel_noise, st_gumbel, tau_at


def test_forward_is_one_hot_and_gradient_reaches_alpha():
    alpha = torch.randn(9, 10, requires_grad=True)
    y = st_gumbel(alpha, 0.7, torch.Generator().manual_seed(0))
    assert torch.equal(y.detach().sum(-1), torch.ones(9))
    assert set(y.detach().unique().tolist()) <= {0.0, 1.0}
    (y * torch.arange(10.0)).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_argmax_of_noisy_log_probs_with_given_noise():
    alpha = torch.tensor([[0.0, 1.0, 0.0]])
    noise = torch.tensor([[3.0, 0.0, 0.0]])  # log p + g = [-1.55+3, -0.55, -1.55] -> index 0
    a1 = alpha.clone().requires_grad_(True)
    y = st_gumbel(a1, 0.5, noise=noise)
    assert y.detach().tolist() == [[1.0, 0.0, 0.0]]
    # the gradient is that of the soft sample softmax((log_softmax(α) + g) / τ)
    y[0, 0].backward()
    a2 = alpha.clone().requires_grad_(True)
    torch.softmax((torch.log_softmax(a2, -1) + noise) / 0.5, -1)[0, 0].backward()
    assert torch.allclose(a1.grad, a2.grad)


def test_sampling_frequencies_follow_softmax_alpha():
    alpha = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    g = torch.Generator().manual_seed(1)
    counts = torch.stack([st_gumbel(alpha, 1.0, g).detach() for _ in range(4000)]).mean(0)
    assert torch.allclose(counts, torch.tensor([0.6, 0.3, 0.1]), atol=0.03)


def test_noise_is_reproducible_from_the_generator():
    a = gumbel_noise((5,), torch.Generator().manual_seed(3))
    b = gumbel_noise((5,), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_eval_choice_is_argmax():
    assert argmax_onehot(torch.tensor([0.1, 2.0, -1.0])).tolist() == [0.0, 1.0, 0.0]


def test_tau_schedules():
    # epoch schedule: max(tau0 * exp(-rate * epoch), tau_min), epoch = step // steps_per_epoch
    assert tau_at(0, 10, rate=0.02) == 1.0
    assert math.isclose(tau_at(25, 10, rate=0.02), math.exp(-0.04))
    assert tau_at(10_000, 10, rate=0.02) == 0.2
    # staircase: constant inside a stair, reaches tau_min at total_steps, keeps falling after
    kw = dict(schedule="staircase", total_steps=400, stair_every=100)
    assert tau_at(0, 1, **kw) == tau_at(99, 1, **kw) == 1.0
    assert tau_at(100, 1, **kw) < 1.0
    assert math.isclose(tau_at(400, 1, **kw), 0.2)
    assert tau_at(500, 1, **kw) < 0.2
