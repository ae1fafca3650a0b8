"""AdaBERT configuration: search-space sizes per profile and every fidelity switch.

Where the paper and its two reference implementations (a TensorFlow reproduction and the authors'
PyTorch search code) disagree, the field below is a switch; its default is written next to it, with the
source of that default (``docs/methods/adabert.md`` has the full table).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.profiles import Profile

LAYER_MAPS = ("ceil", "floor", "tf")
EFFICIENCY_COSTS = ("measured", "pytorch_softmax", "tf_ep")
LOSS_WEIGHTS = ("pytorch", "tf")
PROBE_KD = ("kl", "ce")
PROBE_WEIGHTING = ("batch", "instance", "uniform")
PROBE_FEATURES = ("pytorch", "tf")
STEMS = ("teacher", "table")
DEPTH_HEADS = ("per_depth", "shared")
TAU_SCHEDULES = ("epoch", "staircase")
FINAL_TRAINING = ("warm_ce", "scratch_kd")
SELECTION = ("best_dev", "last")


@dataclass(frozen=True)
class AdaBERTConfig:
    """Sizes and switches of one AdaBERT search.

    Sizes (shrunk from the reference code's d = 128, K_max = 8, 70 epochs; see :func:`for_profile`):
        hidden: d, channels of every cell op.  max_depth: K_max.  search_epochs: passes over the task's
        training set during the search.  batch_size: search batch.
    """

    hidden: int = 32
    max_depth: int = 4
    search_epochs: int = 4
    batch_size: int = 32
    nodes: int = 3  # B intermediate nodes per cell -> 2 + 3 + 4 = 9 edges
    stem_dropout: float = 0.3
    head_dropout: float = 0.1
    # optimisation (one Adam, two parameter groups, as the TF reproduction's two Adams)
    w_lr: float = 1e-3
    w_weight_decay: float = 3e-4
    alpha_lr: float = 2e-2  # code: 3e-4 over ~70 epochs; our searches are a few epochs long
    alpha_weight_decay: float = 1e-3
    clip: float = 5.0
    eval_every: int = 25  # search steps between dev evaluations / checkpoints
    probe_epochs: int = 5  # teacher probes, teacher frozen (PyTorch code: 5 epochs)
    probe_lr: float = 1e-2
    final_epochs: int = 3
    final_lr: float = 1e-3
    # -- fidelity switches ------------------------------------------------------------------------
    layer_map: str = "ceil"  # paper ceil(i*J/K); "floor" PyTorch search loss; "tf" J//(l+1)*m
    use_efficiency_loss: bool = True  # TF code; PyTorch release has it off
    beta: float = 4.0  # weight of L_E (TF default)
    efficiency_cost: str = "measured"  # SIZE/FLOPs of our ops; "pytorch_softmax"; "tf_ep"
    loss_weights: str = "pytorch"  # 0.2 CE / 0.4 final KD / 0.4 probe KD; "tf": (1-g) CE + g probe KD
    gamma: float = 0.8
    final_logit_kd: bool = True  # PyTorch on, TF off
    use_probe_kd: bool = True  # probe KD term on (off only in the "final-logit KD only" ablation)
    kd_temperature: float = 1.0
    probe_kd: str = "kl"  # KL(teacher probe || student probe), T=1 (PyTorch); "ce" (TF)
    probe_weighting: str = "batch"  # attentive per batch (PyTorch); "instance" (paper, from memory); "uniform" (TF)
    teacher_probe_feature: str = "pytorch"  # tanh(mean) at layer 0, pooler at >= 1; "tf": mean, [CLS]
    stem: str = "teacher"  # frozen teacher embeddings + Linear, [CLS] zeroed; "table": TF exported tables
    depth_heads: str = "per_depth"  # one classifier per depth (PyTorch); "shared" (TF)
    allow_depth_zero: bool = False  # TF allows K = 0
    tau_schedule: str = "epoch"  # max(tau0*exp(-rate*epoch), tau_min); "staircase" (TF)
    tau0: float = 1.0
    tau_min: float = 0.2
    tau_rate: float | None = None  # None: 0.02*70/search_epochs (the code's 70-epoch decay, compressed)
    stair_every: int = 20  # staircase: steps per stair (TF: 100 steps over a 1568-step decay)
    second_order: bool = False  # DARTS second-order architect: commented out in the code; not offered
    derive_exclude_none: bool = True  # PyTorch genotype parse; TF keeps `none` (softmax(alpha/0.2))
    final_training: str = "warm_ce"  # warm-start from the supernet, CE only (TF); "scratch_kd"
    data_augmentation: bool = False  # off on the laptop; the paper's main results use DA (from memory)
    selection: str = "best_dev"  # derive from the best-dev supernet checkpoint (code) or the last one

    def __post_init__(self) -> None:
        for name, choices in (("layer_map", LAYER_MAPS), ("efficiency_cost", EFFICIENCY_COSTS),
                              ("loss_weights", LOSS_WEIGHTS), ("probe_kd", PROBE_KD),
                              ("probe_weighting", PROBE_WEIGHTING), ("teacher_probe_feature", PROBE_FEATURES),
                              ("stem", STEMS), ("depth_heads", DEPTH_HEADS), ("tau_schedule", TAU_SCHEDULES),
                              ("final_training", FINAL_TRAINING), ("selection", SELECTION)):
            check_choice(name, getattr(self, name), choices)
        if self.second_order:
            raise HrkdError("second_order=True (DARTS second-order architect) is not offered: the reference "
                            "code comments it out; valid choices: false")
        if self.data_augmentation:
            raise HrkdError("data_augmentation=True is not offered offline (it needs GloVe and a BERT MLM); "
                            "valid choices: false")
        if self.beta < 0:
            raise HrkdError(f"beta must be >= 0, got {self.beta}")
        if self.hidden < 2 or self.max_depth < 1 or self.search_epochs < 1 or self.batch_size < 1:
            raise HrkdError(f"hidden >= 2, max_depth >= 1, search_epochs >= 1, batch_size >= 1 needed; got "
                            f"{self.hidden}, {self.max_depth}, {self.search_epochs}, {self.batch_size}")
        if not 0.0 <= self.gamma <= 1.0:
            raise HrkdError(f"gamma must be in [0, 1], got {self.gamma}")

    @property
    def num_edges(self) -> int:
        """2 + 3 + ... : node j (0-based) has 2 + j inputs."""
        return sum(2 + j for j in range(self.nodes))

    @property
    def depths(self) -> list[int]:
        """Candidate depths K (1..K_max, or 0..K_max with ``allow_depth_zero``)."""
        return list(range(0 if self.allow_depth_zero else 1, self.max_depth + 1))

    @property
    def effective_beta(self) -> float:
        return self.beta if self.use_efficiency_loss else 0.0

    @property
    def decay_rate(self) -> float:
        return self.tau_rate if self.tau_rate is not None else 0.02 * 70 / self.search_epochs

    def term_weights(self) -> dict[str, float]:
        """Weights of L_CE, final-logit KD and probe KD.

        L = (1-gamma)·L_CE + gamma·(KD terms), gamma split evenly over the KD terms that are on.
        pytorch: 0.2 CE / 0.4 final-logit KD / 0.4 probe KD (gamma = 0.8); tf: (1-gamma)·CE + gamma·probe KD
        (no final-logit term). ``use_probe_kd=False`` / ``final_logit_kd=False`` drop a term (ablations).
        """
        final = self.final_logit_kd and self.loss_weights == "pytorch"
        on = [name for name, flag in (("final_kd", final), ("probe_kd", self.use_probe_kd)) if flag]
        out = {"ce": 1.0 - self.gamma if on else 1.0, "final_kd": 0.0, "probe_kd": 0.0}
        for name in on:
            out[name] = self.gamma / len(on)
        return out

    def with_overrides(self, **kw) -> AdaBERTConfig:
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)


def for_profile(profile: Profile, **overrides) -> AdaBERTConfig:
    """Sizes of the search on a profile: ci tiny (seconds), cpu d=32/K_max=4, gpu d=64/K_max=6,
    paper the reference code's d=128/K_max=8/70 epochs/batch 64."""
    sizes = {
        "ci": dict(hidden=16, max_depth=3, search_epochs=2, batch_size=32, eval_every=4, probe_epochs=5,
                   final_epochs=1),
        "cpu": dict(hidden=32, max_depth=4, search_epochs=6, batch_size=32, eval_every=25, final_epochs=3),
        "gpu": dict(hidden=64, max_depth=6, search_epochs=10, batch_size=64, eval_every=100, final_epochs=3),
        "paper": dict(hidden=128, max_depth=8, search_epochs=70, batch_size=64, eval_every=500,
                      final_epochs=3),
    }.get(profile.name, {})
    sizes.update({k: v for k, v in overrides.items() if v is not None})
    return AdaBERTConfig(**sizes)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return max(1, math.ceil(n_train / batch_size))
