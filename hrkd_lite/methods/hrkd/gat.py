"""Graph attention network over domains, one per layer (docs/methods/hrkd.md §2.4; pyGAT layout, Veličković et al. 2018).

Nodes are the D domains with features feat_m (D, H); the graph is fully connected with self-loops.
A :class:`DomainGAT` is ``dropout → concat of `heads` GAT layers (H→H, ELU) → dropout → GAT layer
(heads·H → 1, ELU)``; the softmax of its D outputs is layer m's domain weights w_m (docs/methods/hrkd.md §2.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrkd_lite.methods.hrkd.config import XAVIER_GAIN


class GraphAttentionLayer(nn.Module):
    """One GAT layer on a fully connected graph with self-loops.

    e_ij = LeakyReLU_α(aᵀ[W h_i ‖ W h_j]),  α_ij = softmax_j(e_ij) (then dropout),
    h'_i = act(Σ_j α_ij W h_j).  W (in, out) and a (2·out, 1) are Xavier-uniform with ``gain``.

    Since aᵀ[x ‖ y] = a₁ᵀx + a₂ᵀy, e is built as a (N, 1) + (1, N) sum instead of all N² pairs.
    """

    def __init__(self, in_features: int, out_features: int, *, dropout: float = 0.1, alpha: float = 0.2,
                 elu: bool = True, gain: float = XAVIER_GAIN) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.dropout, self.alpha, self.elu = dropout, alpha, elu
        self.W = nn.Parameter(torch.empty(in_features, out_features))
        self.a = nn.Parameter(torch.empty(2 * out_features, 1))
        nn.init.xavier_uniform_(self.W, gain=gain)
        nn.init.xavier_uniform_(self.a, gain=gain)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """h (N, in) → (h' (N, out), attention (N, N) before dropout; rows sum to 1)."""
        wh = h @ self.W  # (N, out)
        src = wh @ self.a[: self.out_features]  # (N, 1): a₁ᵀ W h_i
        dst = wh @ self.a[self.out_features:]  # (N, 1): a₂ᵀ W h_j
        e = F.leaky_relu(src + dst.T, negative_slope=self.alpha)  # (N, N)
        attention = torch.softmax(e, dim=1)
        out = F.dropout(attention, self.dropout, training=self.training) @ wh
        return (F.elu(out) if self.elu else out), attention


@dataclass
class GATOutput:
    """Outputs of one :class:`DomainGAT` call.

    scores: (D,) ELU outputs of the last layer; weights: (D,) softmax of scores (sums to 1);
    head_attention: (heads, D, D) first-layer attention; out_attention: (D, D) last-layer attention.
    """

    scores: Tensor
    weights: Tensor
    head_attention: Tensor
    out_attention: Tensor


class DomainGAT(nn.Module):
    """Two-layer pyGAT producing one weight per domain (docs/methods/hrkd.md §2.4): ~heads·H² + heads·H parameters."""

    def __init__(self, hidden: int, *, heads: int = 8, dropout: float = 0.1, alpha: float = 0.2,
                 gain: float = XAVIER_GAIN) -> None:
        super().__init__()
        self.dropout = dropout
        self.heads = nn.ModuleList(
            GraphAttentionLayer(hidden, hidden, dropout=dropout, alpha=alpha, elu=True, gain=gain)
            for _ in range(heads)
        )
        self.out = GraphAttentionLayer(heads * hidden, 1, dropout=dropout, alpha=alpha, elu=True, gain=gain)

    def forward(self, feat: Tensor) -> GATOutput:
        """feat (D, H) → :class:`GATOutput` with weights w = softmax(GAT(feat)) ∈ R^D."""
        x = F.dropout(feat, self.dropout, training=self.training)
        outs, attns = zip(*(head(x) for head in self.heads))
        x = F.dropout(torch.cat(outs, dim=1), self.dropout, training=self.training)  # (D, heads·H)
        o, out_attn = self.out(x)  # (D, 1), (D, D)
        scores = o.squeeze(-1)
        return GATOutput(scores=scores, weights=torch.softmax(scores, dim=-1),
                         head_attention=torch.stack(attns, dim=0), out_attention=out_attn)
