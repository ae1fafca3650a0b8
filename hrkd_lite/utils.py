"""Small shared helpers: seeding, device choice, atomic file writes."""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import set_seed


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every accelerator) with ``accelerate.utils.set_seed``.

    For entry points (a runner, a notebook's first cell); library code draws from its own
    ``torch.Generator`` / ``numpy.random.Generator`` instead of reseeding the global state.
    """
    set_seed(int(seed) % (2**32))


@contextlib.contextmanager
def forked_rng(seed: int | None = None) -> Iterator[None]:
    """Run a block on its own global random streams (Python, NumPy, torch CPU and CUDA), seeded from
    ``seed`` when given; the caller's states are put back afterwards, even on an exception.

    For library code that must use the global streams (``nn.Dropout`` draws from them) without
    reseeding them for its caller.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            if seed is not None:
                seed_everything(seed)
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def pick_device(preference: str = "auto") -> torch.device:
    """``"auto"`` gives cuda when available, else cpu (in a launched multi-process run: the device
    accelerate assigned to this process); any other string is passed to torch.device."""
    if preference == "auto":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under `accelerate launch`: this process's device
            return PartialState(cpu=not torch.cuda.is_available()).device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A crash leaves either the old file or the new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """JSON-encode ``obj`` (indent 2, sorted keys) and write it atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
