"""AdaBERT ops: shapes, sequence length kept, padding ignored; per-op costs; the mixed edge."""

from __future__ import annotations

import pytest
import torch

from hrkd_lite.methods.adabert.ops import PRIMITIVES, MixedOp, make_op, op_cost, op_macs, op_parameters


@pytest.mark.parametrize("name", PRIMITIVES)
def test_op_keeps_shape_and_ignores_padding(name):
    torch.manual_seed(0)
    op = make_op(name, 8).eval()
    x = torch.randn(3, 8, 11)
    mask = torch.ones(3, 11, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    y = op(x, mask)
    assert y.shape == x.shape
    # change what the padding holds: outputs at real tokens must not move, padded outputs stay zero
    x2 = x.clone()
    x2[1, :, 7:] = 100.0
    x2[2, :, 4:] = -50.0
    y2 = op(x2, mask)
    m = mask.unsqueeze(1).bool().expand_as(y)
    assert torch.allclose(y[m], y2[m], atol=1e-5)
    assert (y2[~m] == 0).all()


def test_dilated_conv_is_atrous_conv1d():
    op = make_op("dil_conv_5", 4)
    assert isinstance(op.conv, torch.nn.Conv1d) and op.conv.dilation == (2,) and op.conv.kernel_size == (5,)
    assert make_op("std_conv_7", 4).conv.dilation == (1,)


def test_max_pool_takes_window_max_over_real_tokens():
    op = make_op("max_pool1d_3", 1).eval()
    with torch.no_grad():
        op.bn.running_mean.zero_()
        op.bn.running_var.fill_(1.0 - op.bn.eps)
    x = torch.tensor([[[1.0, -5.0, 2.0, 9.0]]])
    mask = torch.tensor([[1, 1, 1, 0]])
    out = op(x, mask)[0, 0]
    assert torch.allclose(out, torch.tensor([1.0, 2.0, 2.0, 0.0]), atol=1e-5)  # the 9 is padding


def test_costs_from_real_modules():
    d, T = 8, 10
    assert op_parameters("std_conv_3", d) == d * d * 3 + d + 2 * d
    assert op_parameters("dil_conv_7", d) == d * d * 7 + d + 2 * d
    assert op_parameters("skip_connect", d) == 0 and op_parameters("none", d) == 0
    assert op_parameters("avg_pool1d_3", d) == 2 * d
    assert op_macs("std_conv_5", d, T) > op_macs("std_conv_3", d, T) > op_macs("max_pool1d_3", d, T) > 0
    costs = op_cost(d, T)
    assert set(costs) == set(PRIMITIVES) and costs["none"] == {"params": 0, "macs": 0}


def test_mixed_op_forward_is_the_sampled_op_and_all_ops_get_gradient():
    torch.manual_seed(0)
    mixed = MixedOp(4).eval()
    x, mask = torch.randn(2, 4, 6), torch.ones(2, 6)
    y = torch.zeros(len(PRIMITIVES), requires_grad=True)
    y_val = y + torch.nn.functional.one_hot(torch.tensor(6), len(PRIMITIVES)).float()
    out = mixed(x, mask, y_val)
    assert torch.allclose(out, mixed.ops[6](x, mask))
    out.sum().backward()
    assert y.grad is not None and (y.grad[:9] != 0).sum() >= 8  # every non-zero op contributes a gradient
