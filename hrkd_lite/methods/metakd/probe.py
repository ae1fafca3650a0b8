"""Domain probe: how well a linear probe recovers the domain from a teacher's mean-pooled features
(chance = 1/K); the check that the domain-corruption loss makes features domain-invariant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hrkd_lite.methods.metakd.scores import extract_features
from hrkd_lite.methods.shared.context import RunContext


@torch.no_grad()
def teacher_features(encoder: nn.Module, ctx: RunContext, split: str, include_padding: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-pooled last layer (N, H) of a (fine-tuned) encoder over all domains' ``split``, and domain ids (N,)."""
    feats, doms = [], []
    for d in range(len(ctx.domains)):
        t = ctx.encoded.tensors[d][split]
        feats.append(extract_features(encoder, t["input_ids"], t["attention_mask"],
                                      batch_size=ctx.profile.eval_batch_size, include_padding=include_padding,
                                      skip_cls=False, device=ctx.device))
        doms.append(torch.full((feats[-1].shape[0],), d, dtype=torch.long))
    return torch.cat(feats), torch.cat(doms)


def linear_probe_accuracy(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                          y_test: torch.Tensor, epochs: int = 300, weight_decay: float = 1e-3,
                          seed: int = 0) -> float:
    """Accuracy of a multinomial logistic regression (full-batch Adam on standardised features).

    Shapes: x (N, H), y (N,) class ids. Deterministic given ``seed``.
    """
    g = torch.Generator().manual_seed(seed)
    mu, sd = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    xtr, xte = (x_train - mu) / sd, (x_test - mu) / sd
    k = int(max(y_train.max(), y_test.max())) + 1
    w = (torch.randn(xtr.shape[1], k, generator=g) * 0.01).requires_grad_(True)
    b = torch.zeros(k, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(epochs):
            opt.zero_grad()
            F.cross_entropy(xtr @ w + b, y_train).backward()
            opt.step()
    with torch.no_grad():
        return float(((xte @ w + b).argmax(-1) == y_test).float().mean())


def domain_probe(encoder: nn.Module, ctx: RunContext, train_split: str = "train", test_split: str = "test",
                 seed: int = 0) -> float:
    """Test accuracy of a linear probe predicting the domain from h̄ of ``encoder`` (chance = 1/K)."""
    xtr, ytr = teacher_features(encoder, ctx, train_split)
    xte, yte = teacher_features(encoder, ctx, test_split)
    return linear_probe_accuracy(xtr, ytr, xte, yte, seed=seed)
