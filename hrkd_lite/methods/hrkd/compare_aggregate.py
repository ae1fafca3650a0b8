"""Hierarchical compare-aggregate over domain prototypes (docs/methods/hrkd.md §2.3).

For each layer m ≥ 1 (m = 0 is skipped: feat_0 = P[0]):

(a) compare across domains — F_m = P[m] (D, H), M1 = F_m W1[m] F_mᵀ (D, D), A1 = softmax(M1) row-wise
    (no 1/√d), R_m = A1 F_m: each domain's *reference prototype*.
(b) aggregate across layers, per domain d — H_d = [P[0,d]; …; P[m,d]] ((m+1), H) are the **raw**
    prototypes of layers 0..m, s = H_d W2[m,d] R_m[d] ((m+1),), a2 = softmax(s) (the *hierarchical
    ratios*), G_m[d] = a2ᵀ H_d. The GAT of layer m receives feat_m = G_m (D, H).

Ablations (their form in the paper is NOT FOUND; these are ours, docs/methods/hrkd.md §10): ``reference_attention=False``
uses R_m = F_m (recorded as an identity A1); ``aggregation="mean"`` replaces (b) by a2 = 1/(m+1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.methods.hrkd.config import XAVIER_GAIN


@dataclass
class CompareAggregateOutput:
    """features (L, D, H) = feat_m per layer (differentiable); ratios (L, D, L) = a2 of layer m over
    layers 0..m (zeros for l > m, row m = 0 is [1, 0, …]); reference_attention (L, D, D) = A1 of layer m
    (NaN where no reference prototype is computed: m = 0, and under ``aggregation="mean"``). L = M + 1.
    ratios and reference_attention are detached copies, for recording."""

    features: Tensor
    ratios: Tensor
    reference_attention: Tensor


class CompareAggregate(nn.Module):
    """Bilinear compare (W1, (L, H, H)) and aggregate (W2, (L, D, H, H)) of docs/methods/hrkd.md §2.3.

    W1[0] and W2[0] exist but are unused, as in the reference code. Init Xavier-uniform with ``gain``;
    ``w2_init="reference"`` initialises each W2[m] as one (D, H, H) tensor, so torch's fans are
    fan_in = H·H and fan_out = D·H (a much smaller bound than per-matrix, H + H), as the code does.
    """

    def __init__(self, hidden: int, num_layers: int, num_domains: int, *, reference_attention: bool = True,
                 aggregation: str = "compare", gain: float = XAVIER_GAIN, w2_init: str = "reference") -> None:
        super().__init__()
        check_choice("aggregation", aggregation, ("compare", "mean"))
        check_choice("w2_init", w2_init, ("reference", "per_matrix"))
        if num_layers < 1 or num_domains < 1:
            raise HrkdError(f"CompareAggregate needs >= 1 layer and domain, got {num_layers}, {num_domains}")
        self.hidden, self.num_layers, self.num_domains = hidden, num_layers, num_domains
        self.reference_attention, self.aggregation = reference_attention, aggregation
        self.W1 = nn.Parameter(torch.empty(num_layers, hidden, hidden))
        self.W2 = nn.Parameter(torch.empty(num_layers, num_domains, hidden, hidden))
        with torch.no_grad():
            for m in range(num_layers):
                nn.init.xavier_uniform_(self.W1[m], gain=gain)
                if w2_init == "reference":
                    nn.init.xavier_uniform_(self.W2[m], gain=gain)  # (D, H, H): fans (H·H, D·H)
                else:
                    for d in range(num_domains):
                        nn.init.xavier_uniform_(self.W2[m, d], gain=gain)

    @staticmethod
    def w2_bound(hidden: int, num_domains: int, gain: float = XAVIER_GAIN, w2_init: str = "reference") -> float:
        """The uniform bound of W2's init: gain·√(6 / (fan_in + fan_out))."""
        fans = hidden * hidden + num_domains * hidden if w2_init == "reference" else 2 * hidden
        return gain * math.sqrt(6.0 / fans)

    def reference(self, feat: Tensor, m: int) -> tuple[Tensor, Tensor]:
        """Step (a) at layer m: F (D, H) → (R (D, H), A1 (D, D))."""
        if not self.reference_attention:
            return feat, torch.eye(feat.shape[0], dtype=feat.dtype, device=feat.device)
        scores = (feat @ self.W1[m]) @ feat.T  # (D, D): F W1 Fᵀ, no 1/√d
        attn = torch.softmax(scores, dim=-1)
        return attn @ feat, attn

    def aggregate(self, hier: Tensor, ref: Tensor, m: int) -> tuple[Tensor, Tensor]:
        """Step (b) at layer m: hier (m+1, D, H) raw prototypes, ref (D, H) → (G (D, H), a2 (D, m+1))."""
        if self.aggregation == "mean":
            ratios = torch.full((hier.shape[1], m + 1), 1.0 / (m + 1), dtype=hier.dtype, device=hier.device)
        else:
            query = torch.einsum("dij,dj->di", self.W2[m], ref)  # (D, H): W2[m,d] R[d]
            scores = torch.einsum("ldi,di->dl", hier, query)  # (D, m+1): H_d W2[m,d] R[d]
            ratios = torch.softmax(scores, dim=-1)
        return torch.einsum("dl,ldi->di", ratios, hier), ratios

    def forward(self, protos: Tensor) -> CompareAggregateOutput:
        """protos (L, D, H) → :class:`CompareAggregateOutput` (features, ratios, reference attention)."""
        L, D, H = protos.shape
        if (L, D, H) != (self.num_layers, self.num_domains, self.hidden):
            raise HrkdError(f"prototypes must be (layers={self.num_layers}, domains={self.num_domains}, "
                            f"hidden={self.hidden}), got {tuple(protos.shape)}")
        feats = [protos[0]]
        ratios = protos.new_zeros(L, D, L)
        ratios[0, :, 0] = 1.0
        ref_attn = protos.new_full((L, D, D), float("nan"))
        for m in range(1, L):
            if self.aggregation == "compare":
                ref, a1 = self.reference(protos[m], m)
                ref_attn[m] = a1.detach()
            else:
                ref = protos[m]  # unused by averaging
            g, a2 = self.aggregate(protos[: m + 1], ref, m)
            feats.append(g)
            ratios[m, :, : m + 1] = a2.detach()
        return CompareAggregateOutput(torch.stack(feats, dim=0), ratios, ref_attn)
