"""The run context every method runner receives: profile, data (raw and tokenised), seed, output folder,
device; ``prepare`` builds it and ``new_student`` builds a seeded student classifier for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrkd_lite.data import MultiDomainData
from hrkd_lite.data.encode import EncodedMultiDomain
from hrkd_lite.models import MultiDomainClassifier
from hrkd_lite.models.factory import build_student, load_tokenizer
from hrkd_lite.profiles import Profile
from hrkd_lite.utils import pick_device, seed_everything

Step = list[tuple[int, np.ndarray]]  # one training step: (domain index, example indices) per domain


@dataclass
class RunContext:
    """Everything a runner needs: profile, data (raw and tokenised), seed, output folder, device."""

    profile: Profile
    data: MultiDomainData
    encoded: EncodedMultiDomain
    tokenizer: Any
    seed: int
    out_dir: Path
    device: torch.device
    progress: bool = True
    teacher_cache: bool = True  # reuse the frozen teacher's outputs on the training rows (--no-teacher-cache)

    @property
    def domains(self) -> list[str]:
        return self.data.domains

    def batch(self, domain: int, split: str, idx: np.ndarray) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device) for k, v in self.encoded.batch(domain, split, idx).items()}


def prepare(profile: Profile, data: MultiDomainData, seed: int = 0, out_dir: str | Path = "runs/tmp",
            progress: bool = True, tokenizer=None, teacher_cache: bool = True) -> RunContext:
    """Validate and tokenise ``data`` with the teacher's tokenizer (static padding to profile.max_len, the
    profile's truncation), after the data source's profile overrides (``Profile.for_source``)."""
    data.validate()
    profile = profile.for_source(data.source)
    tok = tokenizer if tokenizer is not None else load_tokenizer(profile.teacher)
    encoded = EncodedMultiDomain.from_data(data, tok, profile.max_len, truncation=profile.truncation)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return RunContext(profile, data, encoded, tok, seed, out, pick_device(profile.device), progress, teacher_cache)


def new_student(ctx: RunContext, num_domains: int, shared_head: bool) -> MultiDomainClassifier:
    seed_everything(ctx.seed)
    return build_student(ctx.profile, len(ctx.data.label_names), num_domains, shared_head).to(ctx.device)
