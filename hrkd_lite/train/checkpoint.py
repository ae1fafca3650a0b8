"""Atomic safetensors checkpoints: model weights, optimiser, scheduler, RNG states and loop state.

One checkpoint is ONE ``.safetensors`` file, written through a temporary file in the same folder,
``fsync`` and ``os.replace`` (:func:`hrkd_lite.utils.atomic_write_bytes`), so a crash leaves either the
previous file or the new one. Layout of a resumable checkpoint (:func:`save_checkpoint`):

=============================  =====================================================================
tensor name                    content
=============================  =====================================================================
``model/<state_dict key>``     every entry of ``module.state_dict()`` (tied tensors stored once each)
``optim/<param index>/<key>``  tensor entries of ``optimizer.state_dict()["state"]`` (exp_avg, step…)
``rng/torch``                  ``torch.get_rng_state()`` (uint8)
``rng/cuda/<device>``          ``torch.cuda.get_rng_state_all()`` when CUDA is available
``rng/numpy``                  the MT19937 key of ``np.random.get_state()`` (int64)
=============================  =====================================================================

and the string metadata (JSON values; tuples and tensors are tagged so they round-trip exactly):
``hrkd_format`` (``"checkpoint"``), ``hrkd_version``, ``optim_param_groups``, ``optim_state_extra``
(non-tensor optimiser state), ``scheduler``, ``rng_python``, ``rng_numpy`` (the non-array part),
``state`` (the caller's dict: step, epoch, history, best scores…).

A weights-only file (:func:`save_weights`, used for best checkpoints) holds the plain
``state_dict`` keys (loadable with ``safetensors.torch.load_file``) plus ``hrkd_format = "weights"``
and ``metadata`` (JSON).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from safetensors import safe_open
from torch import nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.train.tagged_json import dumps, from_jsonable, loads, to_jsonable
from hrkd_lite.utils import atomic_write_bytes

__all__ = [
    "from_jsonable", "load_checkpoint", "load_weights", "save_checkpoint", "save_weights", "state_dict_copy",
    "to_jsonable",
]

FORMAT_VERSION = "1"


# ----------------------------------------------------------------------------- tensors
def _unshared(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors of which no two share storage (safetensors refuses that).

    A tensor is cloned only when its storage was already used by an earlier entry (tied weights) or
    when it is a view that does not cover its whole storage; GPU tensors are copied to the CPU anyway.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in tensors.items():
        t = tensor.detach().to("cpu").contiguous()
        if t.numel() > 0:
            storage = t.untyped_storage()
            whole = t.storage_offset() == 0 and storage.nbytes() == t.numel() * t.element_size()
            if storage.data_ptr() in seen or not whole:
                t = t.clone()
            seen.add(t.untyped_storage().data_ptr())
        out[name] = t
    return out


def _read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the string metadata of a safetensors file (``safetensors.safe_open``).

    Any failure (missing, truncated, not safetensors) -> HrkdError naming ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise HrkdError(f"cannot read checkpoint {path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt file
        raise HrkdError(f"corrupt or unreadable checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    return tensors, {str(k): str(v) for k, v in meta.items()}


def _load_module(module: nn.Module, weights: dict[str, torch.Tensor], strict: bool, path: Path) -> None:
    """``module.load_state_dict`` with a one-line HrkdError (naming ``path``) on mismatches."""
    own = module.state_dict()
    if strict:
        missing = sorted(set(own) - set(weights))
        unexpected = sorted(set(weights) - set(own))
        if missing or unexpected:
            raise HrkdError(
                f"checkpoint {path} does not match the module: missing {len(missing)} keys "
                f"{missing[:3]}, unexpected {len(unexpected)} keys {unexpected[:3]}"
            )
    for key, t in weights.items():
        if key in own and tuple(own[key].shape) != tuple(t.shape):
            raise HrkdError(
                f"checkpoint {path}: {key} has shape {tuple(t.shape)}, module expects {tuple(own[key].shape)}"
            )
    module.load_state_dict(weights, strict=strict)


# ----------------------------------------------------------------------------- RNG
def _rng_tensors_and_meta() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    tensors["rng/numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    meta = {"rng_python": dumps(random.getstate()), "rng_numpy": dumps([name, pos, has_gauss, cached])}
    return tensors, meta


def _restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    if "rng/torch" in tensors:
        torch.set_rng_state(tensors["rng/torch"].to(torch.uint8))
    cuda = sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k].to(torch.uint8) for k in cuda])
    if "rng_python" in meta:
        random.setstate(loads(meta["rng_python"]))
    if "rng/numpy" in tensors and "rng_numpy" in meta:
        name, pos, has_gauss, cached = loads(meta["rng_numpy"])
        keys = tensors["rng/numpy"].numpy().astype(np.uint32)
        np.random.set_state((name, keys, int(pos), int(has_gauss), float(cached)))


# ----------------------------------------------------------------------------- public API
def save_checkpoint(
    path: str | Path,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    state: dict[str, Any] | None = None,
) -> Path:
    """Atomically write a resumable checkpoint (see the module docstring for the layout).

    Args:
        path: target ``.safetensors`` file (its folder is created).
        module: the model; all of ``module.state_dict()`` is stored.
        optimizer: optional; its ``state_dict()`` is stored (tensors as tensors, the rest as JSON).
        scheduler: optional LR scheduler (anything with a JSON-encodable ``state_dict()``).
        state: optional JSON-encodable dict (step, epoch, history, best scores, ...).

    The current torch / CUDA / numpy / Python RNG states are always stored. Returns ``Path(path)``.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in module.state_dict().items()}
    meta: dict[str, str] = {"hrkd_format": "checkpoint", "hrkd_version": FORMAT_VERSION}
    if optimizer is not None:
        osd = optimizer.state_dict()
        extra: dict[int, dict[str, Any]] = {}
        for idx, pstate in osd["state"].items():
            for key, value in pstate.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim/{idx}/{key}"] = value
                else:
                    extra.setdefault(int(idx), {})[key] = value
        meta["optim_param_groups"] = dumps(osd["param_groups"])
        meta["optim_state_extra"] = dumps(extra)
    if scheduler is not None:
        meta["scheduler"] = dumps(scheduler.state_dict())
    rng_tensors, rng_meta = _rng_tensors_and_meta()
    tensors.update(rng_tensors)
    meta.update(rng_meta)
    meta["state"] = dumps(state or {})
    atomic_write_bytes(path, safetensors.torch.save(_unshared(tensors), metadata=meta))
    return path


def load_checkpoint(
    path: str | Path,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a file written by :func:`save_checkpoint` into ``module`` (strict) and optionally the rest.

    Returns the stored ``state`` dict. Raises HrkdError (naming ``path``) when the file is missing,
    corrupt, not a checkpoint, or does not match the module / optimiser / scheduler.
    """
    path = Path(path)
    tensors, meta = _read(path)
    if meta.get("hrkd_format") != "checkpoint":
        raise HrkdError(
            f"{path} is not a resumable hrkd-lite checkpoint (hrkd_format={meta.get('hrkd_format')!r})"
        )
    weights = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    _load_module(module, weights, strict=True, path=path)
    if optimizer is not None:
        if "optim_param_groups" not in meta:
            raise HrkdError(f"checkpoint {path} holds no optimizer state")
        state: dict[int, dict[str, Any]] = {}
        for key, t in tensors.items():
            if key.startswith("optim/"):
                _, idx, name = key.split("/", 2)
                state.setdefault(int(idx), {})[name] = t
        for idx, extra in loads(meta["optim_state_extra"]).items():
            state.setdefault(int(idx), {}).update(extra)
        osd = {"state": state, "param_groups": loads(meta["optim_param_groups"])}
        try:
            optimizer.load_state_dict(osd)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise HrkdError(f"checkpoint {path}: optimizer state does not match: {exc}") from exc
    if scheduler is not None:
        if "scheduler" not in meta:
            raise HrkdError(f"checkpoint {path} holds no scheduler state")
        scheduler.load_state_dict(loads(meta["scheduler"]))
    if restore_rng:
        _restore_rng(tensors, meta)
    return loads(meta.get("state", "{}"))


def save_weights(path: str | Path, module: nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Atomically write ``module.state_dict()`` alone (plain keys) with optional JSON ``metadata``."""
    path = Path(path)
    meta = {"hrkd_format": "weights", "hrkd_version": FORMAT_VERSION, "metadata": dumps(metadata or {})}
    atomic_write_bytes(path, safetensors.torch.save(_unshared(module.state_dict()), metadata=meta))
    return path


def load_weights(path: str | Path, module: nn.Module, strict: bool = True) -> dict[str, Any]:
    """Load a weights file (or the model part of a full checkpoint) into ``module``.

    Returns the file's metadata dict (``{}`` when none). Raises HrkdError naming ``path`` when the file
    is missing, corrupt, or (``strict``) its keys or shapes do not match the module.
    """
    path = Path(path)
    tensors, meta = _read(path)
    if meta.get("hrkd_format") == "checkpoint":
        tensors = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    _load_module(module, tensors, strict=strict, path=path)
    return loads(meta["metadata"]) if "metadata" in meta else {}


def state_dict_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU clones of ``module.state_dict()`` (an in-memory "best checkpoint")."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
