"""What a run costs, measured around it: wall time, peak memory, teacher forwards.

:func:`measure_costs` is a context manager that, while a runner works,

- times it (``time.perf_counter``);
- samples the process's resident memory every ``interval`` seconds in a thread (psutil) and keeps the peak
  and the peak minus the value at the start (on CUDA also ``torch.cuda.max_memory_allocated``);
- counts the examples that go through a *frozen* BERT encoder (every parameter of its word embeddings
  with ``requires_grad=False``: the runners freeze their teachers; students and teachers in training are
  not frozen), through a global forward hook on :class:`hrkd_lite.models.BertEncoder`; the forwards of a
  latency measurement (``models.measure.measure_latency``) are left out.

The counts are the run's own: a run that reads cached teacher outputs back (a resumed run) shows fewer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

from hrkd_lite.models import BertEncoder
from hrkd_lite.models.measure import measuring_latency


@dataclass
class RunCost:
    """Measured cost of one run. Memory in MB; ``teacher_forward_examples``: examples (rows) through a
    frozen encoder, ``teacher_forward_calls``: its forward calls."""

    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    added_rss_mb: float = 0.0
    cuda_peak_mb: float | None = None
    teacher_forward_examples: int = 0
    teacher_forward_calls: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _frozen(module: BertEncoder) -> bool:
    return not module.embeddings.word_embeddings.weight.requires_grad


@contextmanager
def measure_costs(device: torch.device | str = "cpu", interval: float = 0.05) -> Iterator[RunCost]:
    """Yield a :class:`RunCost` that is filled in when the block ends (also when it raises)."""
    cost = RunCost()
    start_rss = _rss_mb()
    peak = [start_rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], _rss_mb())

    def hook(module, _inputs, output) -> None:
        if isinstance(module, BertEncoder) and _frozen(module) and not measuring_latency():
            cost.teacher_forward_calls += 1
            cost.teacher_forward_examples += int(output.hidden_states[-1].shape[0])

    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    thread = threading.Thread(target=sample, daemon=True)
    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    thread.start()
    t0 = time.perf_counter()
    try:
        yield cost
    finally:
        cost.wall_s = time.perf_counter() - t0
        handle.remove()
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _rss_mb())
        cost.peak_rss_mb = peak[0]
        cost.added_rss_mb = peak[0] - start_rss
        if cuda:
            cost.cuda_peak_mb = torch.cuda.max_memory_allocated() / 2**20
