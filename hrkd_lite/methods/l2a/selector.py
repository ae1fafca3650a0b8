"""The reinforced selector of the L2A-style reconstruction: a logistic keep/drop policy trained by REINFORCE
(``docs/methods/l2a.md`` §6).

The abstract says L2A "adopts a reinforced selector to automatically refine the augmentation strategy
according to the performance of the student"; state, action, reward and algorithm are NOT FOUND. Our
reconstruction:

- state s_x (F features of candidate x, :data:`FEATURES`): teacher confidence max_c p_t(c|x); teacher
  entropy / log C; KL(p_t ‖ p_s) of the current student (clipped to [0, 5]); cosine similarity of the
  teacher's mean hidden state to the target centroid; 1 if the chain started from a source sentence;
  chain step t / t_max;
- policy π_φ(a=1|s) = σ(φᵀ[s; 1]) (the last weight is a bias), actions a_x ~ Bernoulli(π) **sampled**;
- reward R: the change of the student's loss (default) or accuracy on the target **dev** split after a
  few KD steps on the kept candidates plus target batches; never the test split;
- update: REINFORCE with a baseline b, φ ← φ + η·(R − b)·(1/M)·Σ_x ∇_φ log π_φ(a_x|s_x), where
  ∇_φ log π_φ(a|s) = (a − π_φ(a=1|s))·[s; 1]. The 1/M (mean over the M candidates) is our choice so
  that η does not depend on the pool size. b is a moving average of past rewards (or 0); the advantage
  R − b is divided by its moving root-mean-square (our choice, see :class:`MovingAverageBaseline`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from hrkd_lite.methods.l2a.config import FEATURES


def candidate_features(teacher_logits: torch.Tensor, student_logits: torch.Tensor, embedding: torch.Tensor,
                       centroid: torch.Tensor, from_source: torch.Tensor, step: torch.Tensor, max_step: int,
                       names: Sequence[str] = FEATURES) -> torch.Tensor:
    """The selector's state, (M, F) in the order of ``names`` (a subset of :data:`FEATURES`).

    Args: teacher_logits, student_logits (M, C); embedding (M, H); centroid (H,); from_source, step (M,).
    """
    p_t = F.softmax(teacher_logits.float(), -1)
    C = p_t.shape[-1]
    cols = {
        "teacher_confidence": p_t.max(-1).values,
        "teacher_entropy": -(p_t * p_t.clamp_min(1e-12).log()).sum(-1) / math.log(C),
        "student_teacher_kl": F.kl_div(F.log_softmax(student_logits.float(), -1), p_t.clamp_min(1e-12).log(),
                                       reduction="none", log_target=True).sum(-1).clamp(0, 5),
        "target_similarity": F.cosine_similarity(embedding.float(), centroid.float()[None], dim=-1),
        "from_source": from_source.float(),
        "chain_step": step.float() / max(1, max_step),
    }
    return torch.stack([cols[n] for n in names], -1)


class LogisticSelector:
    """π_φ(a=1|s) = σ(φᵀ[s; 1]); φ (F+1,) starts at 0, i.e. keep probability 0.5 for every candidate."""

    def __init__(self, num_features: int, lr: float = 0.5):
        self.phi = torch.zeros(num_features + 1, dtype=torch.float64)
        self.lr = lr

    @staticmethod
    def _with_bias(s: torch.Tensor) -> torch.Tensor:
        return torch.cat([s.double(), torch.ones(len(s), 1, dtype=torch.float64)], 1)

    def keep_prob(self, s: torch.Tensor) -> torch.Tensor:
        """(M, F) -> (M,) keep probabilities."""
        return torch.sigmoid(self._with_bias(s) @ self.phi)

    def sample(self, s: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled actions a (M,) in {0, 1} and the probabilities they were drawn from."""
        p = self.keep_prob(s)
        a = (torch.rand(len(p), generator=generator, dtype=torch.float64) < p).long()
        return a, p

    def log_prob(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Σ_x log π_φ(a_x|s_x) (a scalar)."""
        logits = self._with_bias(s) @ self.phi
        return -F.binary_cross_entropy_with_logits(logits, a.double(), reduction="sum")

    def grad_log_prob(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """(1/M)·Σ_x ∇_φ log π_φ(a_x|s_x) = mean_x (a_x − π_x)·[s_x; 1], shape (F+1,)."""
        x = self._with_bias(s)
        return ((a.double() - torch.sigmoid(x @ self.phi))[:, None] * x).mean(0)

    def update(self, s: torch.Tensor, a: torch.Tensor, advantage: float) -> torch.Tensor:
        """One REINFORCE ascent step with advantage R − b; returns the step taken (F+1,)."""
        step = self.lr * float(advantage) * self.grad_log_prob(s, a)
        self.phi = self.phi + step
        return step


class MovingAverageBaseline:
    """b ← m·b + (1 − m)·R after each episode; the first reward initialises b (so its advantage is 0).

    With ``normalize`` (default, our choice) the advantage is divided by a moving root-mean-square of past
    R − b, so the step size η does not depend on the scale of the reward (dev-loss changes are ~0.01).
    ``kind="none"``: b ≡ 0 and the advantage is R itself (normalised the same way).
    """

    def __init__(self, momentum: float = 0.8, kind: str = "moving_average", normalize: bool = True):
        self.momentum, self.kind, self.normalize = momentum, kind, normalize
        self.value: float | None = None
        self.sq: float | None = None

    def current(self) -> float:
        return 0.0 if self.kind == "none" or self.value is None else self.value

    def _scale(self, adv: float) -> float:
        m = self.momentum
        self.sq = adv * adv if self.sq is None else m * self.sq + (1 - m) * adv * adv
        return adv / (self.sq ** 0.5 + 1e-8) if self.normalize else adv

    def advantage_and_update(self, reward: float) -> float:
        """(R − b) / rms with b before this reward, then fold R into b."""
        if self.kind == "none":
            return self._scale(reward)
        if self.value is None:
            self.value = reward
            return 0.0
        adv = self._scale(reward - self.value)
        self.value = self.momentum * self.value + (1 - self.momentum) * reward
        return adv

    def state(self) -> dict:
        return {"value": self.value, "sq": self.sq}

    def load(self, state: dict) -> None:
        self.value, self.sq = state["value"], state["sq"]
