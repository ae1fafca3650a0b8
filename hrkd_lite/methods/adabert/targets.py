"""The task's tensors pooled over the selected domains, and the teacher's cached targets.

AdaBERT searches one architecture per *task*; here a task is the union of the selected domains (one
label set, one head). The frozen teacher is run once over the training and dev rows: its logits, its
per-layer probe features, then the probes are trained and their outputs cached
(``teacher_targets.safetensors``) — nothing in the search changes them (no data augmentation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import safetensors.torch
import torch

from hrkd_lite.methods.adabert.config import AdaBERTConfig
from hrkd_lite.methods.adabert.probes import (
    TeacherTargets,
    probe_accuracy,
    teacher_layer_features,
    train_probes,
)
from hrkd_lite.methods.shared.context import RunContext
from hrkd_lite.methods.shared.teachers import TeacherBank
from hrkd_lite.utils import atomic_write_bytes


@dataclass
class TaskTensors:
    """Rows of one split of every selected domain, concatenated: ids / mask / types (N, T), labels,
    domain (N,); ``offsets[d]`` is where domain d's rows start (pooled index = offset + row)."""

    ids: torch.Tensor
    mask: torch.Tensor
    types: torch.Tensor
    labels: torch.Tensor
    domain: torch.Tensor
    offsets: list[int]

    @classmethod
    def from_ctx(cls, ctx: RunContext, split: str) -> TaskTensors:
        parts = [ctx.encoded.tensors[d][split] for d in range(len(ctx.domains))]
        sizes = [int(p["labels"].shape[0]) for p in parts]
        offsets = [sum(sizes[:d]) for d in range(len(sizes))]
        cat = lambda k: torch.cat([p[k] for p in parts])  # noqa: E731
        dom = torch.cat([torch.full((n,), d, dtype=torch.long) for d, n in enumerate(sizes)])
        return cls(cat("input_ids"), cat("attention_mask"), cat("token_type_ids"), cat("labels"), dom, offsets)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, idx: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        return {"ids": self.ids[idx].to(device), "mask": self.mask[idx].to(device),
                "types": self.types[idx].to(device), "labels": self.labels[idx].to(device)}


@torch.no_grad()
def teacher_outputs(bank: TeacherBank, task: TaskTensors, kind: str, device: torch.device, batch_size: int = 64
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher logits (N, C) and probe features (N, J+1, H) of every row (each domain's own teacher)."""
    logits, feats = [], []
    for lo in range(0, len(task), batch_size):
        idx = torch.arange(lo, min(lo + batch_size, len(task)))
        b = task.batch(idx, device)
        doms = task.domain[idx]
        out_l = torch.zeros(len(idx), bank[0].num_labels)
        out_f = None
        for d in doms.unique().tolist():
            sel = (doms == d).nonzero().squeeze(1)
            sub = {"input_ids": b["ids"][sel], "attention_mask": b["mask"][sel], "token_type_ids": b["types"][sel]}
            out = bank(d, sub)
            f = teacher_layer_features(out.hidden_states, sub["attention_mask"], bank[d].pooler, kind).cpu()
            out_f = torch.zeros(len(idx), *f.shape[1:]) if out_f is None else out_f
            out_l[sel], out_f[sel] = out.logits.float().cpu(), f.float()
        logits.append(out_l)
        feats.append(out_f)
    return torch.cat(logits), torch.cat(feats)


def teacher_targets(ctx: RunContext, bank: TeacherBank, cfg: AdaBERTConfig, train: TaskTensors,
                    dev: TaskTensors) -> TeacherTargets:
    """Teacher logits and trained-probe outputs for every training row.

    Cached next to the teacher (or in the run folder), keyed by the probe feature kind and a fingerprint
    of the training rows, probe epochs and seed, so runs that share a teacher and data share the cache.
    """
    import hashlib

    h = hashlib.sha1()
    for t in (train.ids, train.mask, train.labels, dev.ids, dev.labels):
        h.update(t.numpy().tobytes())
    h.update(f"{cfg.probe_epochs}/{cfg.probe_lr}/{ctx.seed}".encode())
    folder = bank.folder if bank.folder is not None else ctx.out_dir
    path = folder / f"adabert_targets_{cfg.teacher_probe_feature}_{h.hexdigest()[:12]}.safetensors"
    if path.is_file():
        t = safetensors.torch.load_file(str(path))
        meta = json.loads(safetensors.safe_open(str(path), "pt").metadata()["acc"])
        return TeacherTargets(t["logits"], t["probe_logits"], meta["dev"], meta["train"])
    logits, feats = teacher_outputs(bank, train, cfg.teacher_probe_feature, ctx.device)
    _, dev_feats = teacher_outputs(bank, dev, cfg.teacher_probe_feature, ctx.device)
    C = len(ctx.data.label_names)
    probes = train_probes(feats, train.labels, C, cfg.probe_epochs, cfg.probe_lr, seed=ctx.seed)
    with torch.no_grad():
        probe_logits = probes(feats)
    acc = {"dev": probe_accuracy(probes, dev_feats, dev.labels), "train": probe_accuracy(probes, feats, train.labels)}
    blob = safetensors.torch.save({"logits": logits.contiguous(), "probe_logits": probe_logits.contiguous()},
                                  metadata={"acc": json.dumps(acc)})
    atomic_write_bytes(path, blob)
    return TeacherTargets(logits, probe_logits, acc["dev"], acc["train"])
