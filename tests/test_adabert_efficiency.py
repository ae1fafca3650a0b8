"""Efficiency loss: grows with the cost of the sampled ops and with the sampled depth."""

from __future__ import annotations

import pytest
import torch

from hrkd_lite.methods.adabert.efficiency import cost_vector, efficiency_loss
from hrkd_lite.methods.adabert.ops import PRIMITIVES


def _onehots(op: str, E: int = 9) -> torch.Tensor:
    y = torch.zeros(E, len(PRIMITIVES))
    y[:, PRIMITIVES.index(op)] = 1.0
    return y


def test_measured_cost_is_normalised_and_ordered():
    c = dict(zip(PRIMITIVES, cost_vector("measured", 32, 48).tolist()))
    assert c["std_conv_7"] == pytest.approx(1.0) and c["none"] == 0.0 and c["skip_connect"] == 0.0
    assert c["std_conv_7"] > c["std_conv_5"] > c["std_conv_3"] > c["max_pool1d_3"] > 0
    assert c["dil_conv_5"] == pytest.approx(c["std_conv_5"])


def test_other_cost_tables():
    tf = cost_vector("tf_ep", 32, 48)
    assert tf.sum().item() == pytest.approx(1.0, abs=1e-3) and tf.max() / tf.min() < 1.15
    pt = cost_vector("pytorch_softmax", 32, 48)
    assert pt.shape == (10,) and pt.max() / pt.min() < 1.5  # nearly uniform at our small sizes


def test_efficiency_loss_grows_with_op_cost_and_depth():
    cost = cost_vector("measured", 32, 48)
    depths = [1, 2, 3, 4]
    d2 = torch.tensor([0.0, 1.0, 0.0, 0.0])
    d4 = torch.tensor([0.0, 0.0, 0.0, 1.0])
    cheap = efficiency_loss(_onehots("skip_connect"), d2, depths, cost, 4)
    pool = efficiency_loss(_onehots("max_pool1d_3"), d2, depths, cost, 4)
    conv = efficiency_loss(_onehots("std_conv_7"), d2, depths, cost, 4)
    assert cheap.item() == 0.0 < pool.item() < conv.item()
    assert conv.item() == pytest.approx(2 / 4 * 1.0)
    deep = efficiency_loss(_onehots("std_conv_7"), d4, depths, cost, 4)
    assert deep.item() == pytest.approx(2 * conv.item())


def test_efficiency_gradient_pushes_alpha_towards_cheap_ops():
    from hrkd_lite.methods.adabert.gumbel import st_gumbel

    alpha = torch.zeros(9, 10, requires_grad=True)
    y = st_gumbel(alpha, 1.0, torch.Generator().manual_seed(0))
    efficiency_loss(y, torch.tensor([1.0]), [1], cost_vector("measured", 16, 32), 1).backward()
    g = alpha.grad.mean(0)
    assert g[PRIMITIVES.index("std_conv_7")] > g[PRIMITIVES.index("none")]
