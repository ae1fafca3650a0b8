"""The single-level search loop: sample edges and depth, one loss, update weights and α together.

Per batch (the reference code's procedure, single level; the DARTS second-order step is not used):

    y_e ~ ST-Gumbel(α_e, τ) for the 9 edges (shared by all cells),  y^K ~ ST-Gumbel(α_K, τ)
    L = w_CE·Σ_K y^K_K·CE(logits_K, y) + w_KD·Σ_K y^K_K·KL(teacher logits ‖ logits_K)
        + w_P·Σ_K y^K_K·L_KD,probe(K) + β·L_E

The weights w and the logits α are two parameter groups of one Adam (own learning rates and weight
decay), gradient clipping 5. Every ``eval_every`` steps the supernet's dev accuracy at argmax α is
measured, the best is kept (model selection on dev, as the reference code's scripts do) and a resumable
checkpoint is written; a rerun of the same command continues from it. The history (softmax(α) per edge
and of α_K, τ, the loss terms, the entropy of the soft samples) is saved to ``search.npz``.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from hrkd_lite.methods.adabert.config import AdaBERTConfig, steps_per_epoch
from hrkd_lite.methods.adabert.efficiency import cost_vector, efficiency_loss
from hrkd_lite.methods.adabert.gumbel import argmax_onehot, sample_entropy, st_gumbel, tau_at
from hrkd_lite.methods.adabert.probes import TeacherTargets, per_example_kd, probe_kd_loss
from hrkd_lite.methods.adabert.supernet import Supernet
from hrkd_lite.methods.adabert.targets import TaskTensors
from hrkd_lite.train.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from hrkd_lite.utils import atomic_write_bytes, atomic_write_json

HISTORY_KEYS = ("step", "alpha", "depth", "tau", "ce", "kd_final", "kd_probe", "eff", "loss", "entropy",
                "sampled_depth")


def build_optimizer(net: Supernet, cfg: AdaBERTConfig) -> torch.optim.Adam:
    return torch.optim.Adam([
        {"params": net.weight_parameters(), "lr": cfg.w_lr, "weight_decay": cfg.w_weight_decay},
        {"params": net.arch_parameters(), "lr": cfg.alpha_lr, "weight_decay": cfg.alpha_weight_decay,
         "betas": (0.5, 0.999)},
    ])


def search_loss(net: Supernet, cfg: AdaBERTConfig, batch: dict[str, torch.Tensor], t_logits: torch.Tensor,
                t_probe: torch.Tensor, tau: float, gen: torch.Generator, cost: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one search step (see the module docstring) and its terms as floats.

    batch: ids / mask / types (B, T), labels (B,); t_logits (B, C) teacher logits; t_probe (B, J+1, C)
    cached teacher probe logits; cost (|O|,) per-op cost.
    """
    edge_y = st_gumbel(net.alpha_edges, tau, gen)
    depth_y = st_gumbel(net.alpha_depth, tau, gen)
    out = net(batch["ids"], batch["mask"], edge_y, batch["types"])
    y = batch["labels"]
    w = cfg.term_weights()
    ce = torch.stack([F.cross_entropy(lg, y) for lg in out.logits])
    zero = torch.zeros_like(ce)
    kd_f = (torch.stack([per_example_kd(t_logits, lg, "kl", cfg.kd_temperature).mean() for lg in out.logits])
            if w["final_kd"] > 0 else zero)
    J = t_probe.shape[1] - 1
    kd_p = (torch.stack([probe_kd_loss(out.probe_logits, t_probe, y, K, J, map_kind=cfg.layer_map,
                                       kd=cfg.probe_kd, weighting=cfg.probe_weighting,
                                       temperature=cfg.kd_temperature) for K in cfg.depths])
            if w["probe_kd"] > 0 else zero)
    l_ce, l_f, l_p = (depth_y * ce).sum(), (depth_y * kd_f).sum(), (depth_y * kd_p).sum()
    l_e = efficiency_loss(edge_y, depth_y, cfg.depths, cost, cfg.max_depth)
    loss = w["ce"] * l_ce + w["final_kd"] * l_f + w["probe_kd"] * l_p + cfg.effective_beta * l_e
    with torch.no_grad():
        soft = F.softmax((F.log_softmax(net.alpha_edges, -1)) / tau, -1)
    terms = {"ce": l_ce.item(), "kd_final": l_f.item(), "kd_probe": l_p.item(), "eff": l_e.item(),
             "loss": loss.item(), "entropy": float(sample_entropy(soft)),
             "sampled_depth": float(cfg.depths[int(depth_y.argmax())])}
    return loss, terms


@torch.no_grad()
def supernet_logits(net: Supernet, task: TaskTensors, device: torch.device, batch_size: int = 64) -> torch.Tensor:
    """Logits (N, C) of the supernet with every edge at argmax α and the head of depth argmax α_K."""
    was = net.training
    net.eval()
    edge_y, h = argmax_onehot(net.alpha_edges), int(net.alpha_depth.argmax())
    out = []
    for lo in range(0, len(task), batch_size):
        b = task.batch(torch.arange(lo, min(lo + batch_size, len(task))), device)
        out.append(net(b["ids"], b["mask"], edge_y, b["types"]).logits[h].cpu())
    net.train(was)
    return torch.cat(out)


def per_domain_accuracy(logits: torch.Tensor, task: TaskTensors, domains: list[str]) -> dict[str, float]:
    hit = (logits.argmax(-1) == task.labels).float()
    return {name: float(hit[task.domain == d].mean()) for d, name in enumerate(domains)}


@dataclass
class SearchResult:
    net: Supernet
    history: dict[str, np.ndarray]
    best_step: int
    best_dev: float
    seconds: float


def _history_arrays(h: dict[str, list]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float32 if k != "step" else np.int64) for k, v in h.items()}


def run_search(net: Supernet, cfg: AdaBERTConfig, train: TaskTensors, dev: TaskTensors, targets: TeacherTargets,
               folder: Path, device: torch.device, seed: int = 0, progress: bool = True,
               max_steps: int | None = None, domains: list[str] | None = None,
               step_cap: int | None = None) -> SearchResult | None:
    """Search into ``folder`` (``last.safetensors`` to resume, ``best.safetensors``, ``search.npz``).

    Returns None when stopped early by ``max_steps`` (a simulated interruption, for tests); a finished
    search found in ``folder`` is loaded instead of rerun. ``step_cap`` shortens the search itself
    (``--max-steps``: a finished search of at most that many steps).
    """
    folder.mkdir(parents=True, exist_ok=True)
    done, last, best = folder / "done.json", folder / "last.safetensors", folder / "best.safetensors"
    if done.is_file():
        info = json.loads(done.read_text())
        load_weights(best if cfg.selection == "best_dev" else folder / "final.safetensors", net)
        hist = dict(np.load(folder.parent / "search.npz"))
        return SearchResult(net, hist, info["best_step"], info["best_dev"], info["seconds"])
    opt = build_optimizer(net, cfg)
    spe = steps_per_epoch(len(train), cfg.batch_size)
    total = spe * cfg.search_epochs if step_cap is None else min(step_cap, spe * cfg.search_epochs)
    cost = cost_vector(cfg.efficiency_cost, cfg.hidden, train.ids.shape[1]).to(device)
    gen = torch.Generator().manual_seed(seed)
    hist: dict[str, list] = {k: [] for k in HISTORY_KEYS} | {"eval_step": [], "eval_dev": []}
    step, best_dev, best_step, seconds = 0, -1.0, 0, 0.0
    if last.is_file():
        state = load_checkpoint(last, net, opt)
        step, best_dev, best_step, seconds = state["step"], state["best_dev"], state["best_step"], state["seconds"]
        hist = state["history"]
        gen.set_state(state["gen"])
    bar = tqdm(total=total, initial=step, desc="adabert search", disable=not progress, leave=False)
    net.train()
    while step < total:
        epoch, k = divmod(step, spe)
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        idx = perm.split(cfg.batch_size)[k]
        t0 = time.perf_counter()
        tau = tau_at(step, spe, schedule=cfg.tau_schedule, tau0=cfg.tau0, tau_min=cfg.tau_min,
                     rate=cfg.decay_rate, total_steps=total, stair_every=cfg.stair_every)
        loss, terms = search_loss(net, cfg, train.batch(idx, device), targets.logits[idx].to(device),
                                  targets.probe_logits[idx].to(device), tau, gen, cost)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()
        step += 1
        seconds += time.perf_counter() - t0
        hist["step"].append(step)
        hist["alpha"].append(torch.softmax(net.alpha_edges.detach(), -1).cpu().numpy().tolist())
        hist["depth"].append(torch.softmax(net.alpha_depth.detach(), -1).cpu().numpy().tolist())
        hist["tau"].append(tau)
        for key, v in terms.items():
            hist[key].append(v)
        bar.update(1)
        bar.set_postfix(loss=f"{terms['loss']:.3f}", tau=f"{tau:.2f}")
        stop = max_steps is not None and step >= max_steps and step < total
        if step % cfg.eval_every == 0 or step == total or stop:
            if step % cfg.eval_every == 0 or step == total:
                acc = per_domain_accuracy(supernet_logits(net, dev, device), dev, domains or ["all"])
                dev_mean = float(np.mean(list(acc.values())))
                hist["eval_step"].append(step)
                hist["eval_dev"].append(dev_mean)
                if dev_mean > best_dev:
                    best_dev, best_step = dev_mean, step
                    save_weights(best, net)
            save_checkpoint(last, net, opt, state={"step": step, "best_dev": best_dev, "best_step": best_step,
                                                   "seconds": seconds, "history": hist, "gen": gen.get_state()})
        if stop:
            bar.close()
            return None
    bar.close()
    save_weights(folder / "final.safetensors", net)
    arrays = _history_arrays(hist)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(folder.parent / "search.npz", buf.getvalue())
    atomic_write_json(done, {"best_step": best_step, "best_dev": best_dev, "seconds": seconds, "steps": total})
    last.unlink(missing_ok=True)
    if cfg.selection == "best_dev":
        load_weights(best, net)
    return SearchResult(net, arrays, best_step, best_dev, seconds)
