"""The search loop: history, α learned by gradients, β effect direction, resume = uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrkd_lite.methods.adabert.config import AdaBERTConfig
from hrkd_lite.methods.adabert.probes import TeacherTargets
from hrkd_lite.methods.adabert.search import run_search
from hrkd_lite.methods.adabert.supernet import Supernet
from hrkd_lite.methods.adabert.targets import TaskTensors
from hrkd_lite.models.bert import BertConfig, BertEmbeddings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _task(n: int = 48, T: int = 8, seed: int = 0) -> tuple[TaskTensors, TeacherTargets]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    ids = torch.randint(5, 60, (n, T), generator=g)
    ids[:, 1] = 2 + labels  # the label is readable from token 1
    mask = torch.ones(n, T, dtype=torch.long)
    mask[::3, 6:] = 0
    task = TaskTensors(ids, mask, torch.zeros_like(ids), labels, torch.zeros(n, dtype=torch.long), [0])
    t_logits = 3.0 * torch.nn.functional.one_hot(labels, 2).float()
    probe = torch.randn(n, 4, 2, generator=g)
    return task, TeacherTargets(t_logits, probe, [0.5] * 4, [0.5] * 4)


def _net(cfg: AdaBERTConfig) -> Supernet:
    torch.manual_seed(0)
    bc = BertConfig(vocab_size=64, hidden_size=12, num_heads=2, max_position_embeddings=16)
    return Supernet(cfg, BertEmbeddings(bc), 2)


CFG = AdaBERTConfig(hidden=8, max_depth=2, search_epochs=3, batch_size=16, eval_every=2, alpha_lr=0.05)


def test_search_records_history_and_learns_alpha(tmp_path):
    task, targets = _task()
    net = _net(CFG)
    before = net.alpha_edges.detach().clone()
    res = run_search(net, CFG, task, task, targets, tmp_path / "search", torch.device("cpu"), progress=False)
    h = res.history
    steps = 3 * 3
    assert h["alpha"].shape == (steps, 9, 10) and h["depth"].shape == (steps, 2)
    assert np.allclose(h["alpha"].sum(-1), 1.0, atol=1e-5)
    for key in ("tau", "ce", "kd_final", "kd_probe", "eff", "loss", "entropy"):
        assert h[key].shape == (steps,) and np.isfinite(h[key]).all()
    assert (tmp_path / "search.npz").is_file()
    assert not torch.equal(before, torch.tensor(h["alpha"][-1]).log())
    assert np.abs(h["alpha"][-1] - h["alpha"][0]).max() > 1e-3  # α moved by its gradients


def test_resume_equals_uninterrupted(tmp_path):
    task, targets = _task()
    cfg = CFG.with_overrides(selection="last")
    full = _net(cfg)
    run_search(full, cfg, task, task, targets, tmp_path / "a" / "search", torch.device("cpu"), progress=False)
    part = _net(cfg)
    out = run_search(part, cfg, task, task, targets, tmp_path / "b" / "search", torch.device("cpu"),
                     progress=False, max_steps=5)
    assert out is None and (tmp_path / "b" / "search" / "last.safetensors").is_file()
    resumed = _net(cfg)
    res = run_search(resumed, cfg, task, task, targets, tmp_path / "b" / "search", torch.device("cpu"),
                     progress=False)
    assert torch.allclose(resumed.alpha_edges, full.alpha_edges, atol=1e-6)
    assert torch.allclose(resumed.alpha_depth, full.alpha_depth, atol=1e-6)
    a = dict(np.load(tmp_path / "a" / "search.npz"))
    assert np.allclose(res.history["loss"], a["loss"], atol=1e-5)
    # a finished search is loaded, not rerun
    again = _net(cfg)
    run_search(again, cfg, task, task, targets, tmp_path / "b" / "search", torch.device("cpu"), progress=False)
    assert torch.equal(again.alpha_edges, resumed.alpha_edges)


def test_beta_pushes_towards_cheaper_ops(tmp_path):
    task, targets = _task()
    costs = {}
    for beta in (0.0, 50.0):
        cfg = CFG.with_overrides(beta=beta, search_epochs=4, selection="last")
        net = _net(cfg)
        res = run_search(net, cfg, task, task, targets, tmp_path / f"b{beta}" / "search", torch.device("cpu"),
                         progress=False)
        from hrkd_lite.methods.adabert.efficiency import cost_vector

        costs[beta] = float((torch.tensor(res.history["alpha"][-1]) * cost_vector("measured", 8, 8)).sum(-1).mean())
    assert costs[50.0] < costs[0.0]


def test_no_gradient_into_the_frozen_teacher_embeddings(tmp_path):
    task, targets = _task()
    cfg = CFG.with_overrides(search_epochs=1)
    net = _net(cfg)
    before = {k: v.clone() for k, v in net.stem.embeddings.state_dict().items()}
    run_search(net, cfg, task, task, targets, tmp_path / "search", torch.device("cpu"), progress=False)
    assert all(p.grad is None and not p.requires_grad for p in net.stem.embeddings.parameters())
    after = net.stem.embeddings.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net.stem.proj.weight.requires_grad
