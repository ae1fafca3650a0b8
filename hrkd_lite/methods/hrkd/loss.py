"""The HRKD objective (docs/methods/hrkd.md §2.5) built on per-domain, per-layer, per-example distillation terms (§2.1).

Notation: D domains, M distilled student layers, L = M + 1 (0 = embeddings), G prototype groups.

Per domain d and group g (means over the group's examples of the per-example terms of §2.1):
    T[g, 0, d] = L_emb(d),   T[g, m, d] = L_attn(d, m) + L_hid(d, m)  (m = 1..M),   p[g, d] = L_pred(d).

HRKD (``use_graph=True``), with w[g] the MetaGraph's (L, D) weights of group g:
    L = mean_g Σ_d [ hidden_ratio · Σ_m w[g, m, d] · T[g, m, d] + pred_ratio · (1/D) · p[g, d] ].
Multi-domain TinyBERT-KD (``use_graph=False``): every weight 1 and the prediction term *summed* over
domains (not ÷D), so the loss is ≈ D× larger — as the reference code does.
With G = 1 this is exactly docs/methods/hrkd.md §2.5; G > 1 is the mean of per-GPU losses (DDP's gradient average).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.hrkd.prototypes import group_slices


@dataclass
class DomainTerms:
    """Per-example distillation terms of one domain's batch of B examples (docs/methods/hrkd.md §2.1).

    emb: (B,) embedding MSE; attn: (M, B) attention-score MSE per student layer; hid: (M, B) hidden
    MSE per student layer; pred: (B,) soft cross-entropy. Each example's value is the mean over its own
    elements, so the batch mean equals ``nn.MSELoss()`` over the whole batch (static padding).
    """

    emb: Tensor
    attn: Tensor
    hid: Tensor
    pred: Tensor

    @property
    def batch_size(self) -> int:
        return int(self.emb.shape[0])

    def layer_matrix(self) -> Tensor:
        """(L, B): row 0 = emb, row m = attn[m-1] + hid[m-1]."""
        return torch.cat([self.emb.unsqueeze(0), self.attn + self.hid], dim=0)


def group_means(terms: Sequence[DomainTerms], group_size: int | None,
                split: str = "strided") -> tuple[Tensor, Tensor]:
    """Average each domain's per-example terms within its prototype groups (the same groups as the prototypes).

    Returns (layer_terms (G, L, D), pred_terms (G, D)). Every domain needs the same number of groups.
    """
    if len(terms) == 0:
        raise HrkdError("group_means needs the terms of at least one domain")
    layers, preds = [], []
    for t in terms:
        mat = t.layer_matrix()
        sl = group_slices(t.batch_size, group_size, split)
        layers.append(torch.stack([mat[:, s].mean(dim=1) for s in sl], dim=0))  # (G, L)
        preds.append(torch.stack([t.pred[s].mean() for s in sl], dim=0))  # (G,)
    if len({x.shape for x in layers}) != 1:
        raise HrkdError(f"domains have different (groups, layers): {sorted({tuple(x.shape) for x in layers})}; "
                        "use equal per-domain batch sizes or prototype_group_size=None")
    return torch.stack(layers, dim=2), torch.stack(preds, dim=1)


@dataclass
class HRKDLoss:
    """total: scalar to backpropagate; hidden, pred: its two parts (scalars, ratios applied);
    per_domain: (D,) each domain's contribution (group mean)."""

    total: Tensor
    hidden: Tensor
    pred: Tensor
    per_domain: Tensor


def hrkd_total_loss(
    layer_terms: Tensor,
    pred_terms: Tensor,
    weights: Tensor | None = None,
    *,
    use_graph: bool = True,
    hidden_ratio: float = 1.0,
    pred_ratio: float = 1.0,
) -> HRKDLoss:
    """The total loss of docs/methods/hrkd.md §2.5.

    Args:
        layer_terms: (G, L, D) or (L, D) group-mean layer terms T (see module docstring).
        pred_terms: (G, D) or (D,) group-mean soft cross-entropy p.
        weights: (G, L, D) or (L, D) MetaGraph weights (required when ``use_graph``; ignored otherwise).
        use_graph: graph-weighted HRKD loss vs multi-domain TinyBERT-KD (weights 1, pred summed).
        hidden_ratio, pred_ratio: the weights of the two parts (1, 1 in the code).
    """
    if layer_terms.dim() == 2:
        layer_terms = layer_terms.unsqueeze(0)
        pred_terms = pred_terms.unsqueeze(0)
        if weights is not None and weights.dim() == 2:
            weights = weights.unsqueeze(0)
    if layer_terms.dim() != 3 or pred_terms.shape != (layer_terms.shape[0], layer_terms.shape[2]):
        raise HrkdError(f"layer_terms must be (G, L, D) and pred_terms (G, D), got {tuple(layer_terms.shape)} "
                        f"and {tuple(pred_terms.shape)}")
    num_domains = layer_terms.shape[2]
    if use_graph:
        if weights is None or weights.shape != layer_terms.shape:
            got = None if weights is None else tuple(weights.shape)
            raise HrkdError(f"use_graph=True needs weights shaped like layer_terms {tuple(layer_terms.shape)}, "
                            f"got {got}")
        hidden_gd = (weights * layer_terms).sum(dim=1)  # (G, D)
        pred_gd = pred_terms / num_domains
    else:
        hidden_gd = layer_terms.sum(dim=1)
        pred_gd = pred_terms
    hidden = hidden_ratio * hidden_gd.sum(dim=1).mean()
    pred = pred_ratio * pred_gd.sum(dim=1).mean()
    per_domain = (hidden_ratio * hidden_gd + pred_ratio * pred_gd).mean(dim=0)
    return HRKDLoss(total=hidden + pred, hidden=hidden, pred=pred, per_domain=per_domain)
