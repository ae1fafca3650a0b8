"""The package's one noise rule: when is a difference between two accuracies real?

Every notebook and summary table judges "beyond noise" with :func:`compare`, so the course applies one
rule everywhere. Two sources of noise are measured, and the larger one is used:

- **test-set noise**: an accuracy p measured on n examples has binomial standard error
  ``se(p, n) = sqrt(p(1-p)/n)``; an average over domains with n_d examples each has
  ``sqrt(Σ_d p(1-p)/n_d) / D``. The difference of two such accuracies has ``sqrt(se_a² + se_b²)``.
- **seed noise**: with k ≥ 2 seeds per method, the standard error of the mean difference. Paired runs
  (same seeds, same splits) use the spread of the per-seed differences, ``sd(a_s - b_s) / sqrt(k)``;
  unpaired runs use ``sqrt(var(a)/k_a + var(b)/k_b)``.

``noise = max(test-set noise, seed noise)``; the difference counts when ``|mean(a) - mean(b)| > z·noise``
(z = 2 by default, about a 95 % two-sided band). With one seed the seed noise is not measured, and the
verdict says so ("one seed: ..."): a one-seed result is always shown as one seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from hrkd_lite.errors import HrkdError

__all__ = ["Comparison", "binomial_se", "compare", "format_accuracy"]


def binomial_se(p: float, n: int | Sequence[int]) -> float:
    """Binomial standard error of an accuracy ``p`` on ``n`` examples.

    ``n`` may be a sequence of per-domain test sizes: then ``p`` is an average of per-domain accuracies
    (each taken as ≈ p) and the error is ``sqrt(Σ_d p(1-p)/n_d) / D``.
    """
    sizes = [n] if isinstance(n, (int, np.integer)) else list(n)
    if not sizes or any(int(s) < 1 for s in sizes):
        raise HrkdError(f"test sizes must be positive integers, got {n!r}")
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise HrkdError(f"accuracy must be in [0, 1], got {p!r}")
    return math.sqrt(sum(p * (1 - p) / int(s) for s in sizes)) / len(sizes)


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare` (accuracies as fractions in [0, 1])."""

    diff: float  # mean(a) - mean(b)
    se_test: float  # binomial standard error of the difference
    se_seeds: float  # standard error over seeds (nan with one seed)
    noise: float  # max of the two (the test-set one alone with one seed)
    z: float
    seeds: int  # seeds per method (the smaller of the two)
    beyond: bool  # |diff| > z * noise
    verdict: str  # "better" | "worse" | "within noise", prefixed "one seed: " with one seed

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self, a: str = "a", b: str = "b") -> str:
        """One line for a notebook: the difference in points, the noise band and the verdict."""
        seeds = f"{self.seeds} seeds" if self.seeds > 1 else "1 seed, seed spread not measured"
        return (f"{a} vs {b}: {100 * self.diff:+.1f} points, noise band ±{100 * self.z * self.noise:.1f} "
                f"({seeds}) -> {self.verdict}")


def _as_runs(x: float | Sequence[float], what: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise HrkdError(f"{what} must be one accuracy or a list of per-seed accuracies, got {x!r}")
    if np.any((arr < 0) | (arr > 1)) or np.any(np.isnan(arr)):
        raise HrkdError(f"{what} accuracies must be in [0, 1] (fractions, not percent), got {arr.tolist()}")
    return arr


def compare(a: float | Sequence[float], b: float | Sequence[float], n: int | Sequence[int], *,
            paired: bool = True, z: float = 2.0) -> Comparison:
    """Is accuracy ``a`` different from ``b`` beyond noise?

    Args:
        a, b: one accuracy each, or per-seed accuracies (same seeds in the same order when ``paired``).
        n: test examples behind each accuracy, or per-domain sizes when the accuracies are averages.
        paired: runs share seeds and splits (then the per-seed differences give the seed noise).
        z: width of the band in standard errors.
    """
    ra, rb = _as_runs(a, "a"), _as_runs(b, "b")
    if paired and ra.size != rb.size:
        raise HrkdError(f"paired comparison needs as many seeds on both sides, got {ra.size} and {rb.size}")
    if not z > 0 or math.isinf(z):
        raise HrkdError(f"z must be a finite positive number, got {z!r}")
    ma, mb = float(ra.mean()), float(rb.mean())
    se_test = math.sqrt(binomial_se(ma, n) ** 2 + binomial_se(mb, n) ** 2)
    seeds = int(min(ra.size, rb.size))
    if seeds < 2:
        se_seeds = float("nan")
    elif paired:
        se_seeds = float(np.std(ra - rb, ddof=1) / math.sqrt(seeds))
    else:
        se_seeds = float(math.sqrt(ra.var(ddof=1) / ra.size + rb.var(ddof=1) / rb.size))
    noise = se_test if math.isnan(se_seeds) else max(se_test, se_seeds)
    diff = ma - mb
    beyond = abs(diff) > z * max(noise, 1e-12)
    verdict = ("better" if diff > 0 else "worse") if beyond else "within noise"
    if seeds < 2:
        verdict = f"one seed: {verdict}"
    return Comparison(diff=diff, se_test=se_test, se_seeds=se_seeds, noise=noise, z=z, seeds=seeds,
                      beyond=beyond, verdict=verdict)


def format_accuracy(runs: float | Sequence[float], digits: int = 1) -> str:
    """``"81.0 ± 0.6 (3 seeds)"`` (sd over seeds, ddof 1) or ``"81.0 (1 seed)"``; input in [0, 1]."""
    arr = _as_runs(runs, "runs")
    if arr.size == 1:
        return f"{100 * arr[0]:.{digits}f} (1 seed)"
    return f"{100 * arr.mean():.{digits}f} ± {100 * arr.std(ddof=1):.{digits}f} ({arr.size} seeds)"
