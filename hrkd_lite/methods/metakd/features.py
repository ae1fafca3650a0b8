"""Prototype scores t_i of every training row (``docs/methods/meta_kd.md`` §3), from a *pre-trained, not
fine-tuned* encoder's features h(x) (cached on the run context).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hrkd_lite.methods.metakd.config import MetaKDConfig
from hrkd_lite.methods.metakd.scores import PrototypeScores, extract_features, score_examples
from hrkd_lite.methods.shared.context import RunContext
from hrkd_lite.models.factory import load_encoder


def pretrained_features(ctx: RunContext, include_padding: bool = True, split: str = "train") -> list[torch.Tensor]:
    """h(x) of every row of every domain's ``split``, from the *pre-trained* ``profile.teacher`` encoder.

    Returns one (N_d, H) tensor per domain (row order of the split). Cached on ``ctx``.
    """
    cache = vars(ctx).setdefault("_metakd_features", {})
    key = (split, bool(include_padding))
    if key not in cache:
        enc = load_encoder(ctx.profile.teacher).to(ctx.device)
        feats = []
        for d in range(len(ctx.domains)):
            t = ctx.encoded.tensors[d][split]
            feats.append(extract_features(enc, t["input_ids"], t["attention_mask"],
                                          batch_size=ctx.profile.eval_batch_size,
                                          include_padding=include_padding, device=ctx.device))
        cache[key] = feats
    return cache[key]


def prototype_scores(ctx: RunContext, cfg: MetaKDConfig, domains: Sequence[int] | None = None,
                     split: str = "train") -> PrototypeScores:
    """t_i for the rows of ``domains`` (default all), prototypes from those same rows (docs/methods/meta_kd.md §3).

    Domain ids in the result are the *positions* in ``domains``; rows are the domains' splits
    concatenated in that order. Use :func:`scores_by_domain` to split them back.
    """
    doms = list(range(len(ctx.domains))) if domains is None else list(domains)
    feats = pretrained_features(ctx, cfg.token_mean_with_padding, split)
    rows = torch.cat([feats[d] for d in doms])
    dom_ids = torch.cat([torch.full((feats[d].shape[0],), j, dtype=torch.long) for j, d in enumerate(doms)])
    labels = torch.cat([ctx.encoded.tensors[d][split]["labels"] for d in doms])
    return score_examples(rows, dom_ids, labels, len(doms), len(ctx.data.label_names),
                          cfg.prototypes, cfg.transferability_score)


def scores_by_domain(ps: PrototypeScores, domains: Sequence[int], num_domains: int) -> list[torch.Tensor | None]:
    """Per domain id (0..num_domains-1) the (N_d,) scores, or None for a domain not in ``domains``."""
    out: list[torch.Tensor | None] = [None] * num_domains
    for j, d in enumerate(domains):
        out[d] = ps.scores[ps.domains == j]
    return out
