"""Method registry: ``python -m hrkd_lite run METHOD`` looks methods up here.

A method module calls :func:`register` at import time with a :class:`MethodSpec`: its name, a runner
``runner(ctx: RunContext, **flags) -> dict`` (the metrics written to ``metrics.json``) and its own flags.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hrkd_lite.errors import check_choice

# Modules that register methods (imported lazily so `python -m hrkd_lite data` stays fast).
METHOD_MODULES = (
    "hrkd_lite.methods.baselines.runner",
    "hrkd_lite.methods.shared.teachers",
    "hrkd_lite.methods.hrkd.runner",
    "hrkd_lite.methods.metakd.meta_teacher",
    "hrkd_lite.methods.metakd.runner",
    "hrkd_lite.methods.adabert.runner",
    "hrkd_lite.methods.l2a.runner",
)


@dataclass(frozen=True)
class Flag:
    """A method-specific command-line flag (``--name``), typed, with a default and optional choices."""

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple | None = None


@dataclass
class MethodSpec:
    name: str
    runner: Callable[..., dict]
    help: str
    flags: list[Flag] = field(default_factory=list)


REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    REGISTRY[spec.name] = spec
    return spec


def load_all() -> dict[str, MethodSpec]:
    for mod in METHOD_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
    return REGISTRY


def get_method(name: str) -> MethodSpec:
    load_all()
    check_choice("method", name, sorted(REGISTRY))
    return REGISTRY[name]
