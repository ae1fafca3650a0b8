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

import json
import random
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.utils import atomic_write_bytes

FORMAT_VERSION = "1"


# ----------------------------------------------------------------------------- JSON with tags
def to_jsonable(obj: Any) -> Any:
    """Turn ``obj`` into JSON-encodable data that :func:`from_jsonable` maps back exactly.

    Tuples become ``{"__tuple__": [...]}``, dicts with non-string keys ``{"__dict__": [[k, v], ...]}``,
    tensors ``{"__tensor__": values, "dtype": ..., "shape": ...}``; numpy scalars become Python numbers.
    """
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        return {
            "__tensor__": t.reshape(-1).tolist(),
            "dtype": str(t.dtype).removeprefix("torch."),
            "shape": list(t.shape),
        }
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.reshape(-1).tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"__tuple__": [to_jsonable(v) for v in obj]}
    if isinstance(obj, list):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") for k in obj):
            return {k: to_jsonable(v) for k, v in obj.items()}
        return {"__dict__": [[to_jsonable(k), to_jsonable(v)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable`."""
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        if "__tuple__" in obj:
            return tuple(from_jsonable(v) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {_hashable(from_jsonable(k)): from_jsonable(v) for k, v in obj["__dict__"]}
        if "__tensor__" in obj:
            dtype = getattr(torch, obj["dtype"])
            return torch.tensor(obj["__tensor__"], dtype=dtype).reshape(obj["shape"])
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"]).reshape(obj["shape"])
        return {k: from_jsonable(v) for k, v in obj.items()}
    return obj


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), separators=(",", ":"))


def _loads(text: str) -> Any:
    return from_jsonable(json.loads(text))


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
    """Read all tensors and the metadata of a safetensors file; any failure -> HrkdError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HrkdError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        meta = header.get("__metadata__") or {}
        if not isinstance(meta, dict):
            raise ValueError("bad __metadata__")
        tensors = safetensors.torch.load(data)
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
    meta = {"rng_python": _dumps(random.getstate()), "rng_numpy": _dumps([name, pos, has_gauss, cached])}
    return tensors, meta


def _restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    if "rng/torch" in tensors:
        torch.set_rng_state(tensors["rng/torch"].to(torch.uint8))
    cuda = sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k].to(torch.uint8) for k in cuda])
    if "rng_python" in meta:
        random.setstate(_loads(meta["rng_python"]))
    if "rng/numpy" in tensors and "rng_numpy" in meta:
        name, pos, has_gauss, cached = _loads(meta["rng_numpy"])
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
        meta["optim_param_groups"] = _dumps(osd["param_groups"])
        meta["optim_state_extra"] = _dumps(extra)
    if scheduler is not None:
        meta["scheduler"] = _dumps(scheduler.state_dict())
    rng_tensors, rng_meta = _rng_tensors_and_meta()
    tensors.update(rng_tensors)
    meta.update(rng_meta)
    meta["state"] = _dumps(state or {})
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
        for idx, extra in _loads(meta["optim_state_extra"]).items():
            state.setdefault(int(idx), {}).update(extra)
        osd = {"state": state, "param_groups": _loads(meta["optim_param_groups"])}
        try:
            optimizer.load_state_dict(osd)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise HrkdError(f"checkpoint {path}: optimizer state does not match: {exc}") from exc
    if scheduler is not None:
        if "scheduler" not in meta:
            raise HrkdError(f"checkpoint {path} holds no scheduler state")
        scheduler.load_state_dict(_loads(meta["scheduler"]))
    if restore_rng:
        _restore_rng(tensors, meta)
    return _loads(meta.get("state", "{}"))


def save_weights(path: str | Path, module: nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Atomically write ``module.state_dict()`` alone (plain keys) with optional JSON ``metadata``."""
    path = Path(path)
    meta = {"hrkd_format": "weights", "hrkd_version": FORMAT_VERSION, "metadata": _dumps(metadata or {})}
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
    return _loads(meta["metadata"]) if "metadata" in meta else {}


def state_dict_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU clones of ``module.state_dict()`` (an in-memory "best checkpoint")."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
