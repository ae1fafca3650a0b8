"""The ten candidate operations of an AdaBERT edge, on sequences (B, T, d) with a padding mask (B, T).

Every op keeps the sequence length T and the width d, and respects the mask: padded positions are
zeroed before a convolution or an average, set to -inf before a max, and zeroed in the output, so the
values at real tokens do not depend on what the padding holds.

=================  ===================================================================
``max_pool1d_3``   max pool, kernel 3, stride 1 -> BatchNorm
``avg_pool1d_3``   average pool over the real tokens of the window -> BatchNorm
``skip_connect``   identity
``dil_conv_k``     ``nn.Conv1d(d, d, k, dilation=2)`` (atrous) -> ReLU -> BatchNorm, k in 3, 5, 7
``std_conv_k``     ``nn.Conv1d(d, d, k)`` -> ReLU -> BatchNorm, k in 3, 5, 7
``none``           zero
=================  ===================================================================

:func:`op_cost` counts each op's parameters (SIZE) and multiply-accumulates per example (FLOPs) from
the instantiated modules, for the efficiency loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

PRIMITIVES: tuple[str, ...] = (
    "max_pool1d_3", "avg_pool1d_3", "skip_connect", "dil_conv_3", "dil_conv_5", "dil_conv_7",
    "std_conv_3", "std_conv_5", "std_conv_7", "none",
)
NONE_INDEX = PRIMITIVES.index("none")


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, d, T) times mask (B, T) broadcast over channels."""
    return x * mask.unsqueeze(1).to(x.dtype)


class Zero(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _masked(x, mask)


class PoolBN(nn.Module):
    """Max or average pool (kernel 3, stride 1, same length) over real tokens, then BatchNorm1d."""

    def __init__(self, d: int, kind: str, kernel: int = 3):
        super().__init__()
        self.kind, self.kernel = kind, kernel
        self.bn = nn.BatchNorm1d(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        pad = self.kernel // 2
        if self.kind == "max":
            y = F.max_pool1d(x.masked_fill(m == 0, float("-inf")), self.kernel, 1, pad)
            y = torch.nan_to_num(y.masked_fill(m == 0, 0.0), neginf=0.0)
        else:
            total = F.avg_pool1d(x * m, self.kernel, 1, pad, count_include_pad=True)
            count = F.avg_pool1d(m, self.kernel, 1, pad, count_include_pad=True)
            y = total / count.clamp_min(1e-6) * m
        return _masked(self.bn(y), mask)


class ConvReluBN(nn.Module):
    """Conv1d (kernel k, dilation 1 or 2, 'same' padding) -> ReLU -> BatchNorm1d."""

    def __init__(self, d: int, kernel: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(d, d, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.bn = nn.BatchNorm1d(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _masked(self.bn(F.relu(self.conv(_masked(x, mask)))), mask)


def make_op(name: str, d: int) -> nn.Module:
    """The module of primitive ``name`` at width ``d``; forward(x (B, d, T), mask (B, T)) -> (B, d, T)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name.endswith("pool1d_3"):
        return PoolBN(d, name[:3])
    kind, k = name.rsplit("_", 1)
    return ConvReluBN(d, int(k), dilation=2 if kind == "dil_conv" else 1)


def op_parameters(name: str, d: int) -> int:
    """SIZE(o): parameters of the op (conv weight + bias + BatchNorm scale and shift)."""
    return sum(p.numel() for p in make_op(name, d).parameters())


def op_macs(name: str, d: int, seq_len: int) -> int:
    """FLOPs(o) as multiply-accumulates per example: conv d·d·k·T (+ bias, ReLU, BN 3·d·T);
    pool k·d·T + BN 2·d·T; identity and zero 0."""
    if name in ("none", "skip_connect"):
        return 0
    if name.endswith("pool1d_3"):
        return 3 * d * seq_len + 2 * d * seq_len
    k = int(name.rsplit("_", 1)[1])
    return d * d * k * seq_len + 4 * d * seq_len


def op_cost(d: int, seq_len: int) -> dict[str, dict[str, int]]:
    """``{op: {"params": SIZE, "macs": FLOPs}}`` for every primitive at width d, length seq_len."""
    return {name: {"params": op_parameters(name, d), "macs": op_macs(name, d, seq_len)} for name in PRIMITIVES}


class MixedOp(nn.Module):
    """One edge of the supernet: every primitive, combined by the sampled one-hot y (|O|,).

    Forward value Σ_o y_o·o(x) equals the sampled op's output (y is one-hot); every op is evaluated so
    that the straight-through gradient ∂L/∂y_o = <∂L/∂out, o(x)> exists for each o.
    """

    def __init__(self, d: int):
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, d) for name in PRIMITIVES)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([op(x, mask) for op in self.ops])  # (|O|, B, d, T)
        return torch.einsum("o,obdt->bdt", y.to(x.dtype), outs)
