"""Per-domain evaluation: the one forward loop over a domain's split (logits and gold labels), accuracy,
and the per-domain dict with its ``average``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from hrkd_lite.methods.shared.context import RunContext
from hrkd_lite.models import MultiDomainClassifier


@torch.no_grad()
def predict(model: MultiDomainClassifier, ctx: RunContext, domain: int, split: str,
            head: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and gold labels (N,) of ``domain``'s split; ``head`` defaults to the domain's own."""
    was = model.training
    model.eval()
    logits, labels = [], []
    for b in ctx.encoded.iter_eval(domain, split, ctx.profile.eval_batch_size):
        b = {k: v.to(ctx.device) for k, v in b.items()}
        out = model(b["input_ids"], b["attention_mask"], b["token_type_ids"],
                    domain=domain if head is None else head)
        logits.append(out.logits.float().cpu())
        labels.append(b["labels"].cpu())
    model.train(was)
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def accuracy(model: MultiDomainClassifier, ctx: RunContext, domain: int, split: str,
             head: int | None = None) -> float:
    logits, labels = predict(model, ctx, domain, split, head)
    return float((logits.argmax(-1) == labels).mean())


def mixed_accuracy(model: MultiDomainClassifier, ctx: RunContext, domains: Sequence[int], split: str,
                   head_of: Callable[[int], int]) -> float:
    """Accuracy on the rows of ``domains``' ``split`` pooled (a size-weighted mean over domains)."""
    right = total = 0
    for d in domains:
        logits, labels = predict(model, ctx, d, split, head_of(d))
        right += int((logits.argmax(-1) == labels).sum())
        total += len(labels)
    return right / max(total, 1)


def with_average(scores: dict[str, float]) -> dict[str, float]:
    out = dict(scores)
    out["average"] = float(np.mean(list(scores.values()))) if scores else float("nan")
    return out
