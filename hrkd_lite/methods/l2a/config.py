"""Settings of the L2A-style reconstruction: every fidelity switch with its default, and the sizes
(``docs/methods/l2a.md`` §12).

No public code of L2A (Feng et al., AAAI 2021, arXiv 2101.08106) exists and the paper's generator,
selector, reward, RL algorithm and hyper-parameters are NOT FOUND in what we could read (the abstract
only). So every switch below marks a choice of **our reconstruction**, not of the paper:

=======================  ==============================  ===============================================
switch                   default                         alternatives
=======================  ==============================  ===============================================
``teacher_data``         ``"source+target"``             ``"target"`` (both are trained and reported)
``generator``            ``"encoder_mlm"``: a copy of    ``"small_mlm"``: a 2-layer, d = 64 MLM from
                         the teacher's encoder + a new   scratch (cheaper; a generator, not a teacher)
                         MLM head tied to its word
                         embeddings (on GPU profiles the
                         checkpoint's own MLM head)
``mask_rate`` ρ          0.15                            any value in (0, 1)
``chain_steps`` t        3                               1..
``source_seed_share``    0.3 (cross-domain seeding on)   0 (target seeds only)
``use_selector``         True                            False = KD + random augmentation
``selector_features``    all six (``FEATURES``)          any subset (ablation)
``reward``               ``"dev_loss"`` (decrease of     ``"dev_acc"`` (increase of dev accuracy)
                         the target dev loss)
``reward_baseline``      ``"moving_average"``            ``"none"``
``kd_loss``              ``"logit"`` (Hinton KD)         ``"tinybert"`` (adds embedding, attention and
                                                         hidden MSE through projections)
``student_layers``       (3, 6)                          (2, 4, 6)
=======================  ==============================  ===============================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from hrkd_lite.errors import HrkdError, check_choice

#: Candidate features of the selector's state s_x (our reconstruction, in this order).
FEATURES: tuple[str, ...] = ("teacher_confidence", "teacher_entropy", "student_teacher_kl",
                             "target_similarity", "from_source", "chain_step")
TEACHER_DATA = ("source+target", "target")
GENERATORS = ("encoder_mlm", "small_mlm")
REWARDS = ("dev_loss", "dev_acc")
BASELINES = ("moving_average", "none")
KD_LOSSES = ("logit", "tinybert")
STUDENT_LAYERS = ((3, 6), (2, 4, 6))


@dataclass(frozen=True)
class L2AConfig:
    """Switches (see the module table) and sizes of one run.

    Sizes: the generator trains ``mlm_steps`` steps of ``mlm_batch`` sentences; each run draws
    ``pool_seeds`` seed sentences and walks ``chain_steps`` steps from each (a candidate per step, before
    de-duplication); every episode the selector sees ``candidates_per_episode`` candidates of that pool and
    the student then takes ``inner_steps`` optimiser steps. Every student (no KD, KD, random, learned)
    gets the same ``episodes * inner_steps`` steps.
    """

    teacher_data: str = "source+target"
    generator: str = "encoder_mlm"
    mask_rate: float = 0.15
    chain_steps: int = 3
    source_seed_share: float = 0.3
    use_selector: bool = True
    selector_features: tuple[str, ...] = FEATURES
    reward: str = "dev_loss"
    reward_baseline: str = "moving_average"
    kd_loss: str = "logit"
    student_layers: tuple[int, ...] = (3, 6)
    # sizes and rates (our reconstruction; the paper's are NOT FOUND)
    mlm_steps: int = 150
    mlm_batch: int = 16
    mlm_lr: float = 1e-4
    refill_temperature: float = 1.0
    pool_seeds: int = 160
    candidates_per_episode: int = 64
    candidate_batch: int = 16
    episodes: int = 30
    inner_steps: int = 5
    selector_lr: float = 0.5
    baseline_momentum: float = 0.8
    temperature: float = 2.0
    alpha: float = 0.5
    augment_weight: float = 1.0
    target_only_min_steps: int = 30
    checkpoint_every: int = 0  # episodes between resume checkpoints (0: about 4 per run)

    def __post_init__(self) -> None:
        check_choice("teacher_data", self.teacher_data, TEACHER_DATA)
        check_choice("generator", self.generator, GENERATORS)
        check_choice("reward", self.reward, REWARDS)
        check_choice("reward_baseline", self.reward_baseline, BASELINES)
        check_choice("kd_loss", self.kd_loss, KD_LOSSES)
        check_choice("student_layers", tuple(self.student_layers), STUDENT_LAYERS)
        for f in self.selector_features:
            check_choice("selector feature", f, FEATURES)
        if not self.selector_features:
            raise HrkdError(f"selector_features is empty; choose from {', '.join(FEATURES)}")
        if not 0.0 < self.mask_rate < 1.0:
            raise HrkdError(f"mask_rate must be in (0, 1), got {self.mask_rate}")
        if not 0.0 <= self.source_seed_share <= 1.0:
            raise HrkdError(f"source_seed_share must be in [0, 1], got {self.source_seed_share}")
        for name in ("chain_steps", "episodes", "inner_steps", "pool_seeds", "candidates_per_episode",
                     "mlm_steps", "mlm_batch", "candidate_batch"):
            if getattr(self, name) < 1:
                raise HrkdError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.baseline_momentum < 1.0:
            raise HrkdError(f"baseline_momentum must be in [0, 1), got {self.baseline_momentum}")

    def with_overrides(self, **kwargs) -> L2AConfig:
        return replace(self, **kwargs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["selector_features"] = list(self.selector_features)
        d["student_layers"] = list(self.student_layers)
        return d

    @property
    def student_steps(self) -> int:
        return self.episodes * self.inner_steps

    @property
    def save_every(self) -> int:
        return self.checkpoint_every or max(1, self.episodes // 4)


#: Sizes per profile (switches keep their defaults). ``ci`` only exercises every code path.
PROFILE_SIZES: dict[str, dict] = {
    "ci": dict(mlm_steps=6, mlm_batch=8, pool_seeds=16, candidates_per_episode=16, candidate_batch=8,
               episodes=3, inner_steps=2, chain_steps=2, target_only_min_steps=4),
    "cpu": dict(mlm_steps=60, pool_seeds=64, candidates_per_episode=32, candidate_batch=8, episodes=12,
                inner_steps=4),
    "gpu": dict(mlm_steps=500, mlm_batch=32, pool_seeds=512, candidates_per_episode=256,
                candidate_batch=32, episodes=50, inner_steps=10),
    "paper": dict(mlm_steps=1000, mlm_batch=32, pool_seeds=1024, candidates_per_episode=256,
                  candidate_batch=32, episodes=50, inner_steps=20),
}


def config_for(profile_name: str, **overrides) -> L2AConfig:
    """The default switches with the sizes of ``profile_name``, then ``overrides``."""
    sizes = dict(PROFILE_SIZES.get(profile_name, {}))
    sizes.update({k: v for k, v in overrides.items() if v is not None})
    return L2AConfig(**sizes)
