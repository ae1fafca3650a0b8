"""Efficiency-aware loss L_E: the cost of the sampled ops, scaled by the sampled depth.

    L_E = (K_sampled / K_max) · mean_edges Σ_o y_{e,o}·cost_o,   K_sampled = Σ_K K·y^K_K

(the reference code's form; y are the straight-through one-hots, so the gradient reaches α and α_K).
The per-op cost vector (``efficiency_cost``):

- ``measured`` (default, this repository): cost_o = ½·[SIZE_o / max SIZE + FLOPs_o / max FLOPs] from the
  actual parameter and multiply-accumulate counts of our ops at width d and length T (``ops.op_cost``);
  the most expensive op (std/dil conv 7) costs 1, identity and zero 0, so β acts on a 0..1 scale;
- ``pytorch_softmax``: ½·[softmax(SIZE/1e5) + softmax(FLOPs/1e7)] as the PyTorch code (scales set for
  d = 128, T = 128; at our sizes the softmax is nearly uniform);
- ``tf_ep``: the TF code's fixed vector (0.0999 / 0.1037 / 0.1076 for conv 3/5/7, 0.0944 otherwise).
"""

from __future__ import annotations

import torch

from hrkd_lite.errors import check_choice
from hrkd_lite.methods.adabert.ops import PRIMITIVES, op_cost

TF_EP = {"max_pool1d_3": 0.0944, "avg_pool1d_3": 0.0944, "skip_connect": 0.0944, "none": 0.0944,
         "dil_conv_3": 0.0999, "dil_conv_5": 0.1037, "dil_conv_7": 0.1076,
         "std_conv_3": 0.0999, "std_conv_5": 0.1037, "std_conv_7": 0.1076}


def cost_vector(kind: str, d: int, seq_len: int) -> torch.Tensor:
    """(|O|,) cost of each primitive, in PRIMITIVES order."""
    check_choice("efficiency_cost", kind, ("measured", "pytorch_softmax", "tf_ep"))
    if kind == "tf_ep":
        return torch.tensor([TF_EP[o] for o in PRIMITIVES])
    costs = op_cost(d, seq_len)
    size = torch.tensor([float(costs[o]["params"]) for o in PRIMITIVES])
    macs = torch.tensor([float(costs[o]["macs"]) for o in PRIMITIVES])
    if kind == "pytorch_softmax":
        size = torch.where(size == 0, torch.ones_like(size), size)  # identity / zero count as 1
        macs = torch.where(macs == 0, torch.ones_like(macs), macs)
        return 0.5 * (torch.softmax(size / 1e5, 0) + torch.softmax(macs / 1e7, 0))
    return 0.5 * (size / size.max() + macs / macs.max())


def efficiency_loss(edge_y: torch.Tensor, depth_y: torch.Tensor, depths: list[int], cost: torch.Tensor,
                    max_depth: int) -> torch.Tensor:
    """L_E (scalar) from edge one-hots (E, |O|), depth one-hot (n_depths,) over ``depths``, cost (|O|,)."""
    k = (depth_y * torch.tensor(depths, dtype=depth_y.dtype, device=depth_y.device)).sum()
    per_edge = (edge_y * cost.to(edge_y.device)).sum(-1)  # (E,)
    return k / max_depth * per_edge.mean()
