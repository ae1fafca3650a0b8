"""The generic training loop on a toy two-domain MLP with dropout (CPU, a few seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.train import (
    TrainConfig,
    Trainer,
    build_optimizer,
    linear_warmup_decay,
    load_checkpoint,
    load_weights,
)
from hrkd_lite.train.optim import param_groups, warmup_decay_factor

DOMAINS = ("books", "dvd")
N, DIM, BATCH = 64, 8, 8


class Toy(nn.Module):
    """A frozen "teacher-like" input layer, then a 2-layer MLP with dropout and one head per domain."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.frozen = nn.Linear(DIM, DIM)
        self.frozen.requires_grad_(False)
        self.fc = nn.Linear(DIM, 32)
        self.LayerNorm = nn.LayerNorm(32)
        self.drop = nn.Dropout(0.3)
        self.heads = nn.ModuleList([nn.Linear(32, 2) for _ in DOMAINS])

    def forward(self, x: torch.Tensor, d: int) -> torch.Tensor:
        h = self.drop(torch.relu(self.LayerNorm(self.fc(self.frozen(x)))))
        return self.heads[d](h)


class ToyData:
    """Two linearly separable domains (train and dev) from a fixed seed."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(7)
        self.train, self.dev = [], []
        for _ in DOMAINS:
            w = torch.randn(DIM, generator=g)
            for split, n in ((self.train, N), (self.dev, 32)):
                x = torch.randn(n, DIM, generator=g)
                split.append((x, (x @ w > 0).long()))


class ToyBatches:
    """One index array per domain per step; the order is a function of (seed, epoch) only."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.steps_per_epoch = N // BATCH

    def epoch(self, e: int) -> list[list[np.ndarray]]:
        rng = np.random.default_rng([self.seed, e])
        perms = [rng.permutation(N) for _ in DOMAINS]
        return [[p[i * BATCH : (i + 1) * BATCH] for p in perms] for i in range(self.steps_per_epoch)]


def make(model: Toy, data: ToyData, **cfg: Any) -> tuple[TrainConfig, Any, Any]:
    def loss_fn(item: list[np.ndarray]) -> tuple[torch.Tensor, dict[str, Any]]:
        losses = []
        for d, idx in enumerate(item):
            x, y = data.train[d]
            losses.append(F.cross_entropy(model(x[idx], d), y[idx]))
        return sum(losses), {f"loss_{name}": v for name, v in zip(DOMAINS, losses)}  # tensors are fine

    def eval_fn() -> dict[str, float]:
        assert not model.training and not torch.is_grad_enabled()
        return {
            name: float((model(x, d).argmax(-1) == y).float().mean())
            for d, (name, (x, y)) in enumerate(zip(DOMAINS, data.dev))
        }

    config = TrainConfig(**{"epochs": 3, "lr": 1e-2, "progress": False, "seed": 3, **cfg})
    return config, loss_fn, eval_fn


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    assert set(a) == set(b)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=atol, rtol=0), k


# ----------------------------------------------------------------------------- optimiser and schedule
def test_lr_schedule_values() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = linear_warmup_decay(opt, total_steps=100, warmup_ratio=0.1)
    lrs = []
    for _ in range(101):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(1.0) and lrs[10] == pytest.approx(2.0)
    assert lrs[55] == pytest.approx(1.0) and lrs[99] == pytest.approx(2.0 / 90) and lrs[100] == 0.0
    assert max(lrs) == pytest.approx(2.0)
    assert warmup_decay_factor(10, 0.0)(0) == 1.0  # no warmup: full rate at the first step
    with pytest.raises(HrkdError):
        linear_warmup_decay(opt, total_steps=0)


@pytest.mark.parametrize(("total", "ratio"), [(100, 0.1), (37, 0.2), (10, 0.0), (5, 1.0)])
def test_schedule_is_transformers_and_equals_the_formula(total: int, ratio: float) -> None:
    """The library schedule gives exactly the hand-written multiplier at every step (and past the end)."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_warmup_decay(opt, total_steps=total, warmup_ratio=ratio)
    factor = warmup_decay_factor(total, ratio)
    got, want = [], []
    for s in range(total + 3):
        got.append(opt.param_groups[0]["lr"])
        want.append(factor(s))
        opt.step()
        sched.step()
    assert got == pytest.approx(want, abs=1e-12)
    assert "get_linear_schedule_with_warmup" in repr(sched.lr_lambdas[0])


def test_no_decay_groups_and_frozen_params() -> None:
    model = Toy()
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.05)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    ids = [{id(p) for p in g["params"]} for g in opt.param_groups]
    assert ids[0] == {id(model.fc.weight), *(id(h.weight) for h in model.heads)}
    no_decay = {id(model.fc.bias), id(model.LayerNorm.weight), id(model.LayerNorm.bias)}
    assert ids[1] == no_decay | {id(h.bias) for h in model.heads}
    assert id(model.frozen.weight) not in ids[0] | ids[1]
    assert opt.param_groups[0]["betas"] == (0.9, 0.999) and opt.param_groups[0]["eps"] == 1e-8
    # lower-case HF-style names and bare parameters
    named = [
        ("encoder.layernorm.weight", nn.Parameter(torch.ones(2))),
        ("dense.weight", nn.Parameter(torch.ones(2))),
    ]
    assert [len(g["params"]) for g in param_groups(named)] == [1, 1]
    assert len(param_groups([nn.Parameter(torch.ones(1))])) == 1
    with pytest.raises(HrkdError, match="no trainable"):
        build_optimizer(nn.Linear(2, 2).requires_grad_(False), lr=1e-3)


# ----------------------------------------------------------------------------- training
def test_loss_decreases_and_frozen_params_unchanged(tmp_path: Path) -> None:
    data, model = ToyData(), Toy()
    frozen = weights(model.frozen)
    config, loss_fn, eval_fn = make(model, data, epochs=10, lr=5e-2, out_dir=str(tmp_path))
    result = Trainer(model, loss_fn, eval_fn, ToyBatches(), config).fit()
    losses = [h["loss"] for h in result.history]
    assert result.steps == len(losses) == 10 * 8
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    assert {"step", "epoch", "loss", "lr", "grad_norm", "loss_books", "loss_dvd"} <= set(result.history[0])
    assert result.best_mean is not None and result.best_mean["score"] > 0.7
    assert_same(frozen, weights(model.frozen))
    # the logged lr is the scheduled rate of that step
    factor = warmup_decay_factor(80, 0.1)
    assert [h["lr"] for h in result.history] == pytest.approx([5e-2 * factor(s) for s in range(80)])
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["steps"] == 80 and len(saved["history"]) == 80 and saved["config"]["epochs"] == 10
    assert len(saved["evals"]) == 10  # one per epoch end (eval_every=0)


def test_constant_schedule_keeps_the_rate(tmp_path: Path) -> None:
    """``schedule="constant"`` (Meta-KD stage 1): every step uses ``lr``; resume state still saves."""
    data, model = ToyData(), Toy()
    config, loss_fn, eval_fn = make(model, data, epochs=2, lr=1e-2, out_dir=str(tmp_path), schedule="constant")
    result = Trainer(model, loss_fn, eval_fn, ToyBatches(), config).fit()
    assert [h["lr"] for h in result.history] == pytest.approx([1e-2] * 16)
    with pytest.raises(HrkdError, match="'cosine'.*warmup_linear, constant"):
        make(model, data, schedule="cosine")


def test_gradient_clipping_applied() -> None:
    data, model = ToyData(), Toy()
    config, loss_fn, _ = make(model, data, max_grad_norm=1e-3, max_steps=1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters() if p.requires_grad])
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    result = Trainer(model, loss_fn, None, ToyBatches(), config, optimizer=opt, scheduler=sched).fit()
    after = torch.cat([p.detach().flatten() for p in model.parameters() if p.requires_grad])
    assert result.history[0]["grad_norm"] > 1e-2  # the raw norm was much larger than the cap
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-3)


def test_max_steps_cap_evaluates_at_the_end() -> None:
    data, model = ToyData(), Toy()
    config, loss_fn, eval_fn = make(model, data, max_steps=5)
    result = Trainer(model, loss_fn, eval_fn, ToyBatches(), config).fit()
    assert result.steps == 5 and [e["step"] for e in result.evals] == [5]
    assert result.history[-1]["lr"] == pytest.approx(1e-2 * warmup_decay_factor(5, 0.1)(4))


# ----------------------------------------------------------------------------- best checkpoints
SCRIPT = [  # evals at steps 4, 8 (epoch end), 12, 16 (epoch end): eval_every=4, 2 epochs of 8 steps
    {"books": 0.5, "dvd": 0.6},
    {"books": 0.7, "dvd": 0.5},
    {"books": 0.7, "dvd": 0.8},  # books ties: the earlier step (8) is kept
    {"books": 0.6, "dvd": 0.8},
]


def _scripted(model: Toy, snapshots: dict[int, dict[str, torch.Tensor]], steps: list[int]) -> Any:
    calls = iter(zip(steps, SCRIPT))

    def eval_fn() -> dict[str, float]:
        step, scores = next(calls)
        snapshots[step] = weights(model)
        return dict(scores)

    return eval_fn


@pytest.mark.parametrize("use_dir", [True, False])
def test_per_domain_best_selection(tmp_path: Path, use_dir: bool) -> None:
    data, model = ToyData(), Toy()
    config, loss_fn, _ = make(model, data, epochs=2, eval_every=4, out_dir=str(tmp_path) if use_dir else None)
    snaps: dict[int, dict[str, torch.Tensor]] = {}
    trainer = Trainer(model, loss_fn, _scripted(model, snaps, [4, 8, 12, 16]), ToyBatches(), config)
    result = trainer.fit()
    assert [e["step"] for e in result.evals] == [4, 8, 12, 16]
    assert [e["scores"]["average"] for e in result.evals] == pytest.approx([0.55, 0.6, 0.75, 0.7])
    assert {d: b["step"] for d, b in result.best.items()} == {"books": 8, "dvd": 12}
    assert result.best["books"]["score"] == 0.7 and result.best_mean["step"] == 12
    if use_dir:
        names = {p.name for p in tmp_path.iterdir()}
        assert {"best_books.safetensors", "best_dvd.safetensors", "best_mean.safetensors"} <= names
        assert {"last.safetensors", "history.json"} <= names
        meta = load_weights(tmp_path / "best_books.safetensors", Toy(seed=5))
        assert meta["step"] == 8 and meta["domain"] == "books"
    trainer.load_best("books")
    assert_same(weights(model), snaps[8])
    trainer.load_best("dvd")
    assert_same(weights(model), snaps[12])
    trainer.load_best()
    assert_same(weights(model), snaps[12])
    with pytest.raises(HrkdError, match="kitchen"):
        trainer.load_best("kitchen")


def test_select_mean_keeps_only_best_mean(tmp_path: Path) -> None:
    data, model = ToyData(), Toy()
    config, loss_fn, _ = make(model, data, epochs=2, eval_every=4, out_dir=str(tmp_path), select="mean")
    snaps: dict[int, dict[str, torch.Tensor]] = {}
    trainer = Trainer(model, loss_fn, _scripted(model, snaps, [4, 8, 12, 16]), ToyBatches(), config)
    trainer.fit()
    assert not list(tmp_path.glob("best_books*")) and (tmp_path / "best_mean.safetensors").is_file()
    trainer.load_best("books")
    assert_same(weights(model), snaps[12])
    with pytest.raises(HrkdError, match="select"):
        TrainConfig(epochs=1, lr=1e-3, select="best")


# ----------------------------------------------------------------------------- resume
class Crash(Exception):
    """Simulated interruption."""


def _crash_at(k: int) -> Any:
    def callback(step: int, logs: dict[str, Any]) -> None:
        if step == k:
            raise Crash(f"interrupted at step {k}")

    return callback


@pytest.mark.parametrize(("save_every", "crash", "saved_step"), [(0, 11, 9), (5, 14, 10)])
def test_resume_reaches_identical_weights(
    tmp_path: Path, save_every: int, crash: int, saved_step: int
) -> None:
    data = ToyData()
    cfg = {"epochs": 3, "eval_every": 3, "save_every": save_every}

    model_a = Toy()
    config, loss_fn, eval_fn = make(model_a, data, out_dir=str(tmp_path / "a"), **cfg)
    full = Trainer(model_a, loss_fn, eval_fn, ToyBatches(), config).fit()

    model_b = Toy()
    config, loss_fn, eval_fn = make(model_b, data, out_dir=str(tmp_path / "b"), **cfg)
    with pytest.raises(Crash):
        Trainer(model_b, loss_fn, eval_fn, ToyBatches(), config, callbacks=[_crash_at(crash)]).fit()
    state = load_checkpoint(tmp_path / "b" / "last.safetensors", Toy(), restore_rng=False)
    assert state["step"] == saved_step

    model_c = Toy(seed=99)  # different init: everything must come from the checkpoint
    config, loss_fn, eval_fn = make(model_c, data, out_dir=str(tmp_path / "b"), **cfg)
    seen: list[int] = []
    resumed = Trainer(
        model_c, loss_fn, eval_fn, ToyBatches(), config, callbacks=[lambda s, _: seen.append(s)]
    ).fit()
    assert seen[0] == saved_step + 1 and resumed.steps == full.steps == 24
    assert_same(weights(model_a), weights(model_c), atol=1e-6)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history], abs=1e-6)
    assert resumed.best == full.best and len(resumed.evals) == len(full.evals)

    # resuming a finished run trains nothing more
    config, loss_fn, eval_fn = make(model_c, data, out_dir=str(tmp_path / "b"), **cfg)
    again = Trainer(
        model_c, loss_fn, eval_fn, ToyBatches(), config, callbacks=[lambda s, _: seen.append(s)]
    ).fit()
    assert again.steps == 24 and seen[-1] == 24 and len(seen) == 24 - saved_step


def test_dropout_is_active_in_training() -> None:
    data, model = ToyData(), Toy()
    config, loss_fn, _ = make(model, data, max_steps=1)
    modes: list[bool] = []
    Trainer(
        model, lambda item: (modes.append(model.training), loss_fn(item))[1], None, ToyBatches(), config
    ).fit()
    assert modes == [True]


def test_resume_with_other_schedule_is_refused(tmp_path: Path) -> None:
    data, model = ToyData(), Toy()
    config, loss_fn, eval_fn = make(model, data, epochs=1, out_dir=str(tmp_path))
    Trainer(model, loss_fn, eval_fn, ToyBatches(), config).fit()
    config, loss_fn, eval_fn = make(model, data, epochs=2, out_dir=str(tmp_path))
    with pytest.raises(HrkdError, match="total_steps"):
        Trainer(model, loss_fn, eval_fn, ToyBatches(), config).fit()
    config, loss_fn, eval_fn = make(model, data, epochs=2, out_dir=str(tmp_path), resume=False)
    assert Trainer(model, loss_fn, eval_fn, ToyBatches(), config).fit().steps == 16


def test_fit_leaves_the_callers_random_state_alone() -> None:
    """fit() seeds its own dropout streams and hands the global ones back unchanged."""
    data, model = ToyData(), Toy()
    config, loss_fn, eval_fn = make(model, data, max_steps=3)
    torch.manual_seed(123)
    np.random.seed(5)
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(5)
    Trainer(model, loss_fn, eval_fn, ToyBatches(), config).fit()
    assert torch.equal(torch.rand(3), expected_torch) and np.array_equal(np.random.rand(3), expected_np)
    # and training itself is still a function of config.seed only
    other = Toy()
    config, loss_fn, eval_fn = make(other, data, max_steps=3)
    torch.manual_seed(999)
    Trainer(other, loss_fn, eval_fn, ToyBatches(), config).fit()
    assert_same(weights(model), weights(other))
