"""Prototype (transferability) scores t_i from a pre-trained, not fine-tuned encoder (docs/methods/meta_kd.md §3).

Pipeline: h(x) = mean-pooled last layer (:func:`mean_pool`, :func:`extract_features`) ->
prototypes p^k_m (:func:`compute_prototypes`) -> t_i (:func:`transferability_scores`).

Reference code [C] (authors' ``extract_embeddings.py`` / ``generate_meta_weights.py``; OneFlow
``preprocess.py``):

    t_i = ½·[cos(h_i, p^{k_i}_{m_i}) + cos(h_i, mean_{k≠k_i} p^k_{m_i})]          (code)

Paper form [M] (own-domain term plus an average over the other domains; from memory, unverified):

    t_i = cos(h_i, p^{k_i}_{m_i}) + 1/(K-1) Σ_{k≠k_i} cos(h_i, p^k_{m_i})           (paper)

With domain-wise prototypes (authors/EasyNLP) the class index m is dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from hrkd_lite.errors import HrkdError, check_choice


def mean_pool(hidden: Tensor, attention_mask: Tensor | None = None, *, include_padding: bool = True,
              skip_cls: bool = True) -> Tensor:
    """Token mean of a layer's hidden states.

    Args:
        hidden: (B, T, H) hidden states.
        attention_mask: (B, T), 1 = token, 0 = padding; needed when ``include_padding`` is False.
        include_padding: True reproduces the authors' quirk (docs/methods/meta_kd.md §5.3): padding positions (whose
            hidden states are not zero) are averaged in. False averages real tokens only.
        skip_cls: drop position 0 ([CLS]) as the authors' ``extract_embeddings.py`` does (tokens 1..n).

    Returns:
        (B, H) pooled features.
    """
    if hidden.dim() != 3:
        raise HrkdError(f"hidden must be (B, T, H), got shape {tuple(hidden.shape)}")
    start = 1 if skip_cls else 0
    h = hidden[:, start:]
    if include_padding:
        return h.mean(dim=1)
    if attention_mask is None:
        raise HrkdError("mean_pool(include_padding=False) needs attention_mask")
    m = attention_mask[:, start:].to(h.dtype).unsqueeze(-1)  # (B, T', 1)
    return (h * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)


@torch.no_grad()
def extract_features(encoder: Callable, input_ids: Tensor, attention_mask: Tensor, *, batch_size: int = 64,
                     include_padding: bool = True, skip_cls: bool = True,
                     device: torch.device | str = "cpu") -> Tensor:
    """h(x) for every row: the mean-pooled last layer of a *pre-trained, not fine-tuned* encoder.

    Args:
        encoder: called as ``encoder(input_ids=..., attention_mask=...)``; its output has
            ``.last_hidden_state`` (B, T, H) (``hrkd_lite.models.BertEncoder`` or an HF model).
        input_ids, attention_mask: (N, T) static-padded tokens.

    Returns:
        (N, H) float32 features on the CPU.
    """
    was_training = getattr(encoder, "training", False)
    if hasattr(encoder, "eval"):
        encoder.eval()
    out = []
    for s in range(0, input_ids.shape[0], batch_size):
        ids = input_ids[s:s + batch_size].to(device)
        mask = attention_mask[s:s + batch_size].to(device)
        last = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        out.append(mean_pool(last, mask, include_padding=include_padding, skip_cls=skip_cls).float().cpu())
    if was_training and hasattr(encoder, "train"):
        encoder.train()
    if not out:
        raise HrkdError("extract_features got no rows")
    return torch.cat(out)


def compute_prototypes(features: Tensor, domains: Tensor, labels: Tensor, num_domains: int, num_labels: int,
                       mode: str = "class") -> Tensor:
    """Prototypes p^k_m = mean of h(x) over domain k (and class m) (docs/methods/meta_kd.md §3).

    Args:
        features: (N, H) h(x).
        domains: (N,) domain ids in [0, num_domains).
        labels: (N,) class ids in [0, num_labels).
        mode: ``"class"`` -> one prototype per (domain, class) (paper [M], OneFlow);
            ``"domain"`` -> one per domain (authors, EasyNLP), broadcast over classes.

    Returns:
        (K, C, H) prototypes; in domain mode every class slot of domain k holds p^k, so downstream code
        indexes ``protos[k, m]`` either way. A (domain, class) cell with no examples falls back to the
        domain prototype (with a warning); a domain with no examples raises HrkdError.
    """
    check_choice("prototypes", mode, ("class", "domain"))
    n, hdim = features.shape
    if domains.shape != (n,) or labels.shape != (n,):
        raise HrkdError(f"domains and labels must be ({n},), got {tuple(domains.shape)}, {tuple(labels.shape)}")
    feats = features.float()
    dom_sum = torch.zeros(num_domains, hdim).index_add_(0, domains.long(), feats)
    dom_cnt = torch.bincount(domains.long(), minlength=num_domains).float()
    if (dom_cnt == 0).any():
        empty = [int(k) for k in torch.nonzero(dom_cnt == 0).flatten()]
        raise HrkdError(f"no examples for domain ids {empty}; prototypes need every domain")
    dom_proto = dom_sum / dom_cnt[:, None]  # (K, H)
    if mode == "domain":
        return dom_proto[:, None, :].expand(num_domains, num_labels, hdim).clone()
    cell = domains.long() * num_labels + labels.long()
    cls_sum = torch.zeros(num_domains * num_labels, hdim).index_add_(0, cell, feats)
    cls_cnt = torch.bincount(cell, minlength=num_domains * num_labels).float()
    protos = (cls_sum / cls_cnt.clamp_min(1.0)[:, None]).view(num_domains, num_labels, hdim)
    empty = (cls_cnt == 0).view(num_domains, num_labels)
    if empty.any():
        cells = [(int(k), int(m)) for k, m in torch.nonzero(empty)]
        warnings.warn(f"no examples for (domain, class) cells {cells}; using the domain prototype there",
                      stacklevel=2)
        protos[empty] = dom_proto[:, None, :].expand_as(protos)[empty]
    return protos


def transferability_scores(features: Tensor, domains: Tensor, labels: Tensor, prototypes: Tensor,
                           formula: str = "code") -> Tensor:
    """Per-example transferability (prototype) score t_i (docs/methods/meta_kd.md §3; formulas in the module docstring).

    Args:
        features: (N, H) h(x).
        domains: (N,) domain id k_i of each example.
        labels: (N,) class id m_i (ignored in effect for domain-wise prototypes, whose class slots agree).
        prototypes: (K, C, H) from :func:`compute_prototypes`, K ≥ 2.
        formula: ``"code"`` (default, reference code) or ``"paper"`` ([M]).

    Returns:
        (N,) scores; ``code`` lies in [-1, 1], ``paper`` in [-2, 2].
    """
    check_choice("transferability_score", formula, ("code", "paper"))
    k_all = prototypes.shape[0]
    if k_all < 2:
        raise HrkdError(f"transferability scores need at least 2 domains, got {k_all}")
    d = domains.long()
    m = labels.long()
    per_class = prototypes[:, m, :].transpose(0, 1)  # (N, K, H): every domain's prototype of class m_i
    own = per_class[torch.arange(d.shape[0]), d]  # (N, H)
    other_mask = torch.ones(d.shape[0], k_all, dtype=torch.bool)
    other_mask[torch.arange(d.shape[0]), d] = False
    feats = features.float()
    cos_own = F.cosine_similarity(feats, own, dim=-1)
    if formula == "code":
        others = (per_class * other_mask[..., None]).sum(1) / (k_all - 1)  # mean_{k≠k_i} p^k
        return 0.5 * (cos_own + F.cosine_similarity(feats, others, dim=-1))
    cos_all = F.cosine_similarity(feats[:, None, :], per_class, dim=-1)  # (N, K)
    return cos_own + (cos_all * other_mask).sum(1) / (k_all - 1)


@dataclass
class PrototypeScores:
    """Everything the notebook needs about t_i for one dataset (rows = concatenated domain splits).

    Shapes: ``features`` (N, H), ``domains``/``labels``/``scores`` (N,), ``prototypes`` (K, C, H).
    """

    features: Tensor
    domains: Tensor
    labels: Tensor
    prototypes: Tensor
    scores: Tensor
    mode: str
    formula: str

    def for_domain(self, k: int) -> Tensor:
        """(N_k,) scores of domain k's rows, in row order."""
        return self.scores[self.domains == k]


def score_examples(features: Tensor, domains: Tensor, labels: Tensor, num_domains: int, num_labels: int,
                   mode: str = "class", formula: str = "code") -> PrototypeScores:
    """Prototypes and t_i in one call (both from the same rows, as in the reference code)."""
    protos = compute_prototypes(features, domains, labels, num_domains, num_labels, mode)
    scores = transferability_scores(features, domains, labels, protos, formula)
    return PrototypeScores(features, domains.long(), labels.long(), protos, scores, mode, formula)
