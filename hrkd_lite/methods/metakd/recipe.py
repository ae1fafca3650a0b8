"""Meta-KD's own training recipe: batch sizes, learning rates, epochs, schedules and checkpoint choice.

The defaults are the authors' released scripts (``docs/methods/meta_kd.md``, "recipe" table) [R]:

=====================  ==========================================================================
meta-teacher           32 examples per step drawn from ALL domains mixed (one pooled loader), lr 2e-5,
                       3 epochs, warmup + linear decay; ONE checkpoint, the best on the mixed dev set
stage 1 (layers)       lr 5e-5, 10 epochs, constant learning rate, 32 examples per step
stage 2 (prediction)   lr 3e-5, 3 epochs, warmup + linear decay, 32 examples per step
=====================  ==========================================================================

The single- and mix-teacher baselines of notebook 03 run through the same teacher loop, so they use the
same recipe (the mix teacher pools all domains; the single teacher sees one domain, reshuffled per epoch).

:meth:`MetaKDRecipe.for_profile` scales it to a profile, and only where the profile has to:

- epochs: ``min(reference, profile epochs)`` (the ``ci`` and ``cpu`` profiles cannot afford 3 + 10 + 3);
- batch sizes: ``min(32, profile.batch_size × D)`` for the mixed teacher and ``min(32, profile.batch_size)``
  for the students (the laptop profiles use smaller batches);
- learning rates: multiplied by the profile's rate relative to the reference profiles (``profile.teacher_lr
  / 5e-5`` for the teacher, ``profile.student_lr / 5e-5`` for both student stages). The ``paper`` and
  ``gpu`` profiles (5e-5) get the reference rates exactly; the laptop profiles train far fewer steps and
  use proportionally larger rates, keeping the reference ratios 2 : 5 : 3 between the three phases.

Everything else (schedules, the mixed-domain teacher batches, one mixed-dev checkpoint) is the reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from hrkd_lite.errors import HrkdError, check_choice

#: The learning rate of the ``paper`` / ``gpu`` profiles (HRKD's teacher and student rate): the unit the
#: profile multipliers are measured in.
REFERENCE_PROFILE_LR = 5e-5
TEACHER_SELECTIONS = ("mixed_dev", "per_domain")
TEACHER_SAMPLERS = ("pooled", "per_domain")
LR_SCHEDULES = ("constant", "warmup_linear")


@dataclass(frozen=True)
class MetaKDRecipe:
    """Training values of Meta-KD's three phases (reference defaults, see the module text).

    Attributes:
        teacher_batch_size: examples per meta-teacher step.
        teacher_sampler: ``"pooled"`` = all training domains mixed in one shuffled loader (reference);
            ``"per_domain"`` = one block of ``teacher_batch_size`` per domain per step (HRKD's sampler).
        teacher_lr, teacher_epochs: the meta-teacher's (and the baseline teachers') optimiser settings.
        teacher_selection: ``"mixed_dev"`` = one checkpoint, best accuracy on all domains' dev rows
            pooled (reference); ``"per_domain"`` = each domain's own best-dev checkpoint (HRKD's rule).
        stage1_lr, stage1_epochs, stage1_schedule: intermediate-layer distillation.
        stage2_lr, stage2_epochs, stage2_schedule: prediction-layer distillation.
        student_batch_size: examples per student step (the target domain only).

    ``schedule="joint"`` (one stage, our alternative) trains with stage 1's rate and epochs and stage 2's
    warmup schedule.
    """

    teacher_batch_size: int = 32
    teacher_sampler: str = "pooled"
    teacher_lr: float = 2e-5
    teacher_epochs: int = 3
    teacher_selection: str = "mixed_dev"
    stage1_lr: float = 5e-5
    stage1_epochs: int = 10
    stage1_schedule: str = "constant"
    stage2_lr: float = 3e-5
    stage2_epochs: int = 3
    stage2_schedule: str = "warmup_linear"
    student_batch_size: int = 32

    def __post_init__(self) -> None:
        check_choice("teacher_selection", self.teacher_selection, TEACHER_SELECTIONS)
        check_choice("teacher_sampler", self.teacher_sampler, TEACHER_SAMPLERS)
        check_choice("stage1_schedule", self.stage1_schedule, LR_SCHEDULES)
        check_choice("stage2_schedule", self.stage2_schedule, LR_SCHEDULES)
        for name in ("teacher_batch_size", "teacher_epochs", "stage1_epochs", "stage2_epochs",
                     "student_batch_size"):
            if int(getattr(self, name)) < 1:
                raise HrkdError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("teacher_lr", "stage1_lr", "stage2_lr"):
            if not float(getattr(self, name)) > 0:
                raise HrkdError(f"{name} must be > 0, got {getattr(self, name)}")

    def for_profile(self, profile: Any, num_domains: int) -> MetaKDRecipe:
        """This recipe shrunk to ``profile`` (epochs, batch sizes) with its learning-rate multipliers.

        Args:
            profile: a :class:`hrkd_lite.profiles.Profile` (``teacher_epochs``, ``student_epochs``,
                ``batch_size``, ``teacher_lr``, ``student_lr``).
            num_domains: D, the domains the mixed teacher pools (its batch is at most ``batch_size × D``).
        """
        t_scale = float(profile.teacher_lr) / REFERENCE_PROFILE_LR
        s_scale = float(profile.student_lr) / REFERENCE_PROFILE_LR
        return replace(
            self,
            teacher_batch_size=min(self.teacher_batch_size, profile.batch_size * max(1, num_domains)),
            teacher_epochs=min(self.teacher_epochs, profile.teacher_epochs),
            teacher_lr=self.teacher_lr * t_scale,
            stage1_epochs=min(self.stage1_epochs, profile.student_epochs),
            stage1_lr=self.stage1_lr * s_scale,
            stage2_epochs=min(self.stage2_epochs, profile.student_epochs),
            stage2_lr=self.stage2_lr * s_scale,
            student_batch_size=min(self.student_batch_size, profile.batch_size),
        )

    def with_overrides(self, **kwargs: Any) -> MetaKDRecipe:
        """A copy with some values replaced (validated again)."""
        return replace(self, **kwargs)

    def to_dict(self) -> dict:
        return asdict(self)


def recipe_for(profile: Any, num_domains: int, base: MetaKDRecipe | None = None) -> MetaKDRecipe:
    """``(base or MetaKDRecipe()).for_profile(profile, num_domains)``: what a run of ``profile`` uses."""
    return (base or MetaKDRecipe()).for_profile(profile, num_domains)
