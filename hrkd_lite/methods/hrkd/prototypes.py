"""Domain prototypes: the student's projected hidden states averaged per layer (docs/methods/hrkd.md §2.2).

P[m, d] = mean over the batch and all positions of fit_m(H^S_d[m]) ∈ R^H, m = 0..M (0 = embeddings).
The reference code averages all static-padding positions (padding included) and builds prototypes
per GPU from 8 examples per domain; ``group_size`` reproduces that on one device by splitting each
domain's batch into groups, one prototype set (and one graph call) per group (docs/methods/hrkd.md §7).
The groups are *strided* by default (group j = positions j, j+G, j+2G, …, as a distributed sampler shards
a batch over G GPUs) or *consecutive* slices (``split="consecutive"``, the ``prototype_group_split`` switch).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hrkd_lite.errors import HrkdError, check_choice

GROUP_SPLITS = ("strided", "consecutive")


def group_slices(batch_size: int, group_size: int | None, split: str = "strided") -> list[slice]:
    """Example slices of one domain's batch: G = ``ceil(B / group_size)`` groups.

    ``split="strided"`` (reference: each GPU's shard of a distributed batch): group j holds positions
    j, j+G, j+2G, …; ``"consecutive"``: group j holds positions j·g … (j+1)·g − 1. ``group_size=None``
    (or ≥ B) gives one group with the whole batch. When B is not a multiple of the group size the groups
    differ in size by at most one (strided) or the last one is shorter (consecutive).
    """
    check_choice("prototype_group_split", split, GROUP_SPLITS)
    if batch_size < 1:
        raise HrkdError(f"a domain batch needs at least one example, got batch size {batch_size}")
    if group_size is None or group_size >= batch_size:
        return [slice(0, batch_size)]
    if group_size < 1:
        raise HrkdError(f"prototype_group_size must be >= 1 or None, got {group_size}")
    if split == "strided":
        groups = -(-batch_size // group_size)
        return [slice(j, batch_size, groups) for j in range(groups)]
    return [slice(s, min(s + group_size, batch_size)) for s in range(0, batch_size, group_size)]


def domain_prototypes(
    hidden: Sequence[Tensor],
    attention_mask: Tensor | None = None,
    *,
    masked: bool = False,
    group_size: int | None = None,
    detach: bool = False,
    split: str = "strided",
) -> Tensor:
    """Prototypes of one domain, per group and layer (docs/methods/hrkd.md §2.2).

    Args:
        hidden: M+1 tensors (B, T, H), the student's *projected* states fit_m(H^S[m]) of one domain's
            batch (index 0 = embedding output).
        attention_mask: (B, T), 1 = token, 0 = padding; needed only when ``masked``.
        masked: False = mean over all T positions, padding included (reference code, static padding);
            True = mean over real tokens only.
        group_size: examples per group (None = one group).
        split: ``"strided"`` (reference) or ``"consecutive"`` groups (:func:`group_slices`).
        detach: cut the gradient path from the prototypes to the student (``detach_prototypes``).

    Returns:
        (G, M+1, H) with G = ``len(group_slices(B, group_size))``.
    """
    if len(hidden) == 0:
        raise HrkdError("domain_prototypes needs at least one layer of hidden states")
    batch = hidden[0].shape[0]
    if masked and attention_mask is None:
        raise HrkdError("prototype_masked=True needs the attention_mask")
    out = []
    for sl in group_slices(batch, group_size, split):
        layers = []
        for h in hidden:
            if h.dim() != 3 or h.shape[0] != batch:
                raise HrkdError(f"hidden states must all be (B={batch}, T, H), got {tuple(h.shape)}")
            hg = h[sl]
            if masked:
                m = attention_mask[sl].to(hg.dtype).unsqueeze(-1)  # (g, T, 1)
                layers.append((hg * m).sum(dim=(0, 1)) / m.sum().clamp_min(1.0))
            else:
                layers.append(hg.mean(dim=(0, 1)))
        out.append(torch.stack(layers, dim=0))
    protos = torch.stack(out, dim=0)
    return protos.detach() if detach else protos


def stack_domains(per_domain: Sequence[Tensor]) -> Tensor:
    """Stack D per-domain prototype tensors (G, M+1, H) into (G, M+1, D, H).

    Every domain must have the same number of groups (the HRKD sampler gives equal batch sizes).
    """
    if len(per_domain) == 0:
        raise HrkdError("stack_domains needs at least one domain")
    shapes = {tuple(p.shape) for p in per_domain}
    if len(shapes) != 1:
        raise HrkdError(f"all domains need the same (groups, layers, hidden) prototype shape, got "
                        f"{sorted(shapes)}; use equal per-domain batch sizes or prototype_group_size=None")
    return torch.stack(list(per_domain), dim=2)
