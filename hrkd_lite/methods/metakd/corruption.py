"""Domain-corruption head and the meta-teacher loss (docs/methods/meta_kd.md §3).

Reference code [C] (authors' ``transformer/modeling.py::MetaTeacherForSequenceClassification``;
EasyNLP ``compute_loss``)::

    z_i = W_c (h̄_last(x_i) + E_D(d_i))          pre-tanh domain-corrupted feature (TKD target, §4)
    u_i = dropout(tanh(z_i))
    domain logits = W_d u_i
    L_MT = mean_i t_i · [CE(y_i, f(x_i)) + λ_d · CE(d̃_i, W_d u_i)],   d̃ = d[randperm(B)]

Training the domain classifier on *randomly permuted* domain labels gives it no learnable domain
signal, so the shared features are pushed to carry none either (the "feature-level" part).
OneFlow variant: mean_i CE_i + λ_d · mean_i t_i CE_dom,i.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.models.bert import INIT_STD


@dataclass
class CorruptionOutput:
    """``feature`` (B, H) pre-tanh W_c(h̄ + E_D(d)); ``u`` (B, H) after tanh and dropout;
    ``domain_logits`` (B, K)."""

    feature: Tensor
    u: Tensor
    domain_logits: Tensor


class DomainCorruptionHead(nn.Module):
    """u = tanh(W_c(h̄ + E_D(d))), domain logits = W_d u (docs/methods/meta_kd.md §3).

    Args:
        hidden_size: H of the pooled encoder feature h̄.
        num_domains: K (size of the domain embedding E_D and of the W_d output).
        dropout: applied to u before W_d.
    """

    def __init__(self, hidden_size: int, num_domains: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.domain_embedding = nn.Embedding(num_domains, hidden_size)
        self.corrupt = nn.Linear(hidden_size, hidden_size)  # W_c
        self.dropout = nn.Dropout(dropout)
        self.domain_classifier = nn.Linear(hidden_size, num_domains)  # W_d
        for lin in (self.corrupt, self.domain_classifier):
            nn.init.normal_(lin.weight, std=INIT_STD)
            nn.init.zeros_(lin.bias)
        nn.init.normal_(self.domain_embedding.weight, std=INIT_STD)

    def forward(self, pooled: Tensor, domains: Tensor | int) -> CorruptionOutput:
        """``pooled`` (B, H) mean-pooled last layer of the model itself; ``domains`` (B,) or an int."""
        if isinstance(domains, int):
            domains = torch.full((pooled.shape[0],), domains, dtype=torch.long, device=pooled.device)
        feature = self.corrupt(pooled + self.domain_embedding(domains.long()))
        u = self.dropout(torch.tanh(feature))
        return CorruptionOutput(feature=feature, u=u, domain_logits=self.domain_classifier(u))


def shuffled_domain_labels(domains: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """d̃ = d[randperm(B)]: the batch's own domain labels in random order (docs/methods/meta_kd.md §3)."""
    perm = torch.randperm(domains.shape[0], generator=generator, device="cpu").to(domains.device)
    return domains[perm]


def corruption_loss(domain_logits: Tensor, domains: Tensor, generator: torch.Generator | None = None,
                    reduction: str = "none") -> Tensor:
    """CE of the domain logits (B, K) against shuffled labels; (B,) for ``"none"``, scalar for ``"mean"``."""
    check_choice("reduction", reduction, ("none", "mean"))
    return F.cross_entropy(domain_logits, shuffled_domain_labels(domains.long(), generator),
                           reduction=reduction)


def meta_teacher_loss(ce: Tensor, domain_ce: Tensor | None = None, scores: Tensor | None = None,
                      domain_loss_weight: float = 0.5, weight_terms: str = "both") -> Tensor:
    """L_MT from per-example terms (docs/methods/meta_kd.md §3).

    Args:
        ce: (B,) task cross-entropy per example.
        domain_ce: (B,) shuffled-domain CE per example, or None when the corruption loss is off.
        scores: (B,) prototype scores t_i, or None when per-instance weighting is off (t_i = 1).
        domain_loss_weight: λ_d.
        weight_terms: ``"both"`` = mean_i t_i[CE_i + λ_d CE_dom,i] (authors, EasyNLP);
            ``"domain"`` = mean_i CE_i + λ_d mean_i t_i CE_dom,i (OneFlow).

    Returns:
        scalar loss.
    """
    check_choice("teacher_weight_terms", weight_terms, ("both", "domain"))
    if ce.dim() != 1:
        raise HrkdError(f"ce must be per-example (B,), got shape {tuple(ce.shape)}")
    t = torch.ones_like(ce) if scores is None else scores.to(ce.dtype).detach()
    dom = torch.zeros_like(ce) if domain_ce is None else domain_ce
    if weight_terms == "both":
        return (t * (ce + domain_loss_weight * dom)).mean()
    return ce.mean() + domain_loss_weight * (t * dom).mean()
