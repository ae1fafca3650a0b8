"""Atomic safetensors checkpoints: round trips, RNG, tied weights, atomicity, corrupt files."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.train.checkpoint import (
    from_jsonable,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
    to_jsonable,
)
from hrkd_lite.train.optim import build_optimizer, linear_warmup_decay


class Tiny(nn.Module):
    """Linear -> LayerNorm -> Linear with the output layer tied to an extra alias."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.norm = nn.LayerNorm(6)
        self.out = nn.Linear(6, 3)
        self.register_buffer("counter", torch.zeros(2, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.norm(self.fc(x))))


def _trained(steps: int = 3) -> tuple[Tiny, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    torch.manual_seed(0)
    model = Tiny()
    opt = build_optimizer(model, lr=1e-2)
    sched = linear_warmup_decay(opt, total_steps=20, warmup_ratio=0.2)
    for _ in range(steps):
        loss = model(torch.randn(5, 4)).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    model.counter += 7
    return model, opt, sched


def _fresh() -> tuple[Tiny, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    torch.manual_seed(123)
    model = Tiny()
    opt = build_optimizer(model, lr=1e-2)
    return model, opt, linear_warmup_decay(opt, total_steps=20, warmup_ratio=0.2)


def _assert_same_tree(a: object, b: object) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for k in a:
            _assert_same_tree(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_tree(x, y)
    else:
        assert a == b


def test_full_round_trip(tmp_path: Path) -> None:
    model, opt, sched = _trained()
    state = {"step": 3, "history": [{"step": 1, "loss": 0.5}], "best": {"books": {"score": 0.8, "step": 2}}}
    path = save_checkpoint(tmp_path / "ck.safetensors", model, opt, sched, state)
    model2, opt2, sched2 = _fresh()
    got = load_checkpoint(path, model2, opt2, sched2)
    assert got == state
    _assert_same_tree(model.state_dict(), model2.state_dict())
    _assert_same_tree(opt.state_dict(), opt2.state_dict())  # betas stay a tuple, step stays a tensor
    assert sched.state_dict() == sched2.state_dict()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    # the file is plain safetensors with the documented names
    names = set(safetensors.torch.load_file(path))
    assert "model/fc.weight" in names and "optim/0/exp_avg" in names and "rng/torch" in names


def test_optimizer_continues_identically(tmp_path: Path) -> None:
    model, opt, sched = _trained()
    save_checkpoint(tmp_path / "ck.safetensors", model, opt, sched)
    model2, opt2, sched2 = _fresh()
    load_checkpoint(tmp_path / "ck.safetensors", model2, opt2, sched2, restore_rng=False)
    x = torch.randn(5, 4)
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        m(x).pow(2).mean().backward()
        o.step()
        s.step()
    _assert_same_tree(model.state_dict(), model2.state_dict())


def test_rng_states_restored(tmp_path: Path) -> None:
    model = Tiny()
    save_checkpoint(tmp_path / "ck.safetensors", model)
    first = (torch.rand(3), random.random(), np.random.rand(2))
    load_checkpoint(tmp_path / "ck.safetensors", model)
    again = (torch.rand(3), random.random(), np.random.rand(2))
    assert torch.equal(first[0], again[0]) and first[1] == again[1] and np.array_equal(first[2], again[2])
    load_checkpoint(tmp_path / "ck.safetensors", model, restore_rng=False)
    assert not torch.equal(torch.rand(3), first[0])


def test_tied_weights(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.dec = nn.Linear(3, 5, bias=False)
            self.dec.weight = self.emb.weight

    model = Tied()
    save_checkpoint(tmp_path / "ck.safetensors", model, build_optimizer(model, lr=1e-3))
    save_weights(tmp_path / "w.safetensors", model)
    other = Tied()
    load_weights(tmp_path / "w.safetensors", other)
    assert torch.equal(other.emb.weight, model.emb.weight)
    assert other.dec.weight is other.emb.weight
    load_checkpoint(tmp_path / "ck.safetensors", Tied())


def test_weights_files(tmp_path: Path) -> None:
    model, _, _ = _trained()
    save_weights(tmp_path / "best.safetensors", model, metadata={"domain": "books", "score": 0.75, "step": 4})
    plain = safetensors.torch.load_file(tmp_path / "best.safetensors")
    assert set(plain) == set(model.state_dict())
    other, _, _ = _fresh()
    meta = load_weights(tmp_path / "best.safetensors", other)
    assert meta == {"domain": "books", "score": 0.75, "step": 4}
    _assert_same_tree(model.state_dict(), other.state_dict())
    # the model part of a full checkpoint loads too, but a weights file is not resumable
    save_checkpoint(tmp_path / "ck.safetensors", model)
    load_weights(tmp_path / "ck.safetensors", _fresh()[0])
    with pytest.raises(HrkdError, match="not a resumable"):
        load_checkpoint(tmp_path / "best.safetensors", other)


def test_mismatch_errors_name_the_file(tmp_path: Path) -> None:
    model, opt, sched = _trained()
    path = save_checkpoint(tmp_path / "ck.safetensors", model, opt, sched)
    with pytest.raises(HrkdError, match="ck.safetensors"):
        load_weights(path, nn.Linear(4, 6))
    bigger = nn.Sequential(nn.Linear(4, 6))
    save_weights(tmp_path / "w.safetensors", bigger)
    with pytest.raises(HrkdError, match="shape"):
        load_weights(tmp_path / "w.safetensors", nn.Sequential(nn.Linear(4, 7)))
    assert (
        load_weights(tmp_path / "w.safetensors", nn.Sequential(nn.Linear(4, 6), nn.ReLU()), strict=False)
        == {}
    )
    one_group = torch.optim.AdamW(_fresh()[0].parameters(), lr=1e-3)
    with pytest.raises(HrkdError, match="optimizer"):
        load_checkpoint(path, _fresh()[0], one_group)
    save_checkpoint(tmp_path / "plain.safetensors", model)
    with pytest.raises(HrkdError, match="no optimizer state"):
        load_checkpoint(tmp_path / "plain.safetensors", model, opt)


@pytest.mark.parametrize("payload", [b"", b"not a safetensors file at all", "truncate"])
def test_corrupt_checkpoint_raises_hrkd_error(tmp_path: Path, payload: object) -> None:
    model, opt, sched = _trained()
    path = tmp_path / "bad.safetensors"
    if payload == "truncate":
        save_checkpoint(path, model, opt, sched)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(payload)  # type: ignore[arg-type]
    with pytest.raises(HrkdError, match=str(path)):
        load_checkpoint(path, model, opt, sched)
    with pytest.raises(HrkdError, match=str(path)):
        load_weights(path, model)


def test_missing_checkpoint_raises_hrkd_error(tmp_path: Path) -> None:
    with pytest.raises(HrkdError, match="nope.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors", Tiny())


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, opt, sched = _trained()
    path = save_checkpoint(tmp_path / "last.safetensors", model, opt, sched, {"step": 1})
    before = sorted(os.listdir(tmp_path))
    saved = model.fc.weight.detach().clone()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with torch.no_grad():
        model.fc.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, opt, sched, {"step": 2})
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before  # no temp file left behind
    other, opt2, sched2 = _fresh()
    assert load_checkpoint(path, other, opt2, sched2) == {"step": 1}
    assert torch.equal(other.fc.weight, saved)


def test_json_tags_round_trip() -> None:
    obj = {"a": (1, 2.5, (3, None)), 4: [True, "x"], "t": torch.arange(6).reshape(2, 3), "f": float("inf")}
    back = from_jsonable(to_jsonable(obj))
    assert back["a"] == (1, 2.5, (3, None)) and back[4] == [True, "x"] and back["f"] == float("inf")
    assert torch.equal(back["t"], obj["t"])
