"""The runs behind notebook 02 (L2A-style reconstruction) as plain functions returning plain data.

Every run is ``run_l2a`` into ``runs_dir/n<N>/seed<s>``; a folder that already holds ``metrics.json`` is read
back (the notebook re-runs in seconds). Nothing here invents a number: tables, curves and verdicts are built
from the files the runs wrote.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hrkd_lite.methods.l2a.chain import refill_step
from hrkd_lite.methods.l2a.generator import MLMGenerator, load_generator, special_ids_of
from hrkd_lite.methods.l2a.runner import STUDENTS, run_l2a
from hrkd_lite.methods.shared.context import RunContext
from hrkd_lite.methods.shared.metrics import read_metrics

PAIRS = {"synthetic": ("electronics", "kitchen"), "amazon": ("books", "kitchen")}
TEACHERS = ("teacher (source+target)", "teacher (target)")
METHODS = (*TEACHERS, *STUDENTS.values())


def run_folder(runs_dir: Path, n: int, seed: int) -> Path:
    return Path(runs_dir) / f"n{n}" / f"seed{seed}"


def sweep(ctx: RunContext, runs_dir: Path, source: str, target: str, labels: Sequence[int],
          seeds: Sequence[int], reuse: bool = True, **switches) -> dict[int, list[dict]]:
    """``run_l2a`` for every number of target labels and seed: ``{N: [metrics per seed]}``."""
    out: dict[int, list[dict]] = {}
    for n in labels:
        out[int(n)] = []
        for s in seeds:
            folder = run_folder(runs_dir, n, s)
            if reuse and (folder / "metrics.json").is_file():
                out[int(n)].append(read_metrics(folder))
                continue
            folder.mkdir(parents=True, exist_ok=True)
            sctx = dataclasses.replace(ctx, out_dir=folder, seed=int(s))
            out[int(n)].append(run_l2a(sctx, source, target, int(n), **switches))
    return out


def summarize(runs: dict[int, list[dict]], split: str = "test") -> dict[str, dict[int, tuple[float, float, int]]]:
    """``{method: {N: (mean, sd, seeds)}}`` of target accuracy (sd 0.0 for one seed)."""
    out: dict[str, dict[int, tuple[float, float, int]]] = {}
    for method in METHODS:
        out[method] = {}
        for n, ms in runs.items():
            v = np.array([m["baselines"][method][split] for m in ms], dtype=float)
            out[method][n] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v))
    return out


def summary_markdown(summary: dict[str, dict[int, tuple[float, float, int]]]) -> str:
    """One row per method, one column per N: mean ± sd (%) over seeds, or the single value with '(1 seed)'."""
    ns = sorted(next(iter(summary.values())))
    lines = ["| method | " + " | ".join(f"N = {n}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for method, cells in summary.items():
        shown = [f"{100 * cells[n][0]:.1f} ± {100 * cells[n][1]:.1f} ({cells[n][2]} seeds)" if cells[n][2] > 1
                 else f"{100 * cells[n][0]:.1f} (1 seed)" for n in ns]
        lines.append(f"| {method} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def paired_verdict(runs: dict[int, list[dict]], a: str, b: str, split: str = "test") -> dict[int, dict]:
    """Per N: the per-seed differences acc(a) − acc(b) (same seed = same target labels and batches), their
    mean, sd, and a verdict: "a better" / "b better" when |mean| > 2·sd/√seeds (and > 0), else "within seed
    noise"; with one seed "one seed: no spread to compare with". Also the binomial SE of one test set."""
    out = {}
    for n, ms in runs.items():
        d = np.array([m["baselines"][a][split] - m["baselines"][b][split] for m in ms], dtype=float)
        k = len(d)
        sd = float(d.std(ddof=1)) if k > 1 else float("nan")
        se = sd / math.sqrt(k) if k > 1 else float("nan")
        n_test = ms[0].get("test_examples", 0)
        p = float(np.mean([m["baselines"][b][split] for m in ms]))
        binom = math.sqrt(2 * p * (1 - p) / n_test) if n_test else float("nan")
        if k < 2:
            verdict = "one seed: no spread to compare with"
        elif abs(d.mean()) > 2 * se and abs(d.mean()) > 0:
            verdict = f"{a} better" if d.mean() > 0 else f"{b} better"
        else:
            verdict = "within seed noise"
        out[n] = {"diffs": d.tolist(), "mean": float(d.mean()), "sd": sd, "se": se, "seeds": k,
                  "binomial_se": binom, "verdict": verdict}
    return out


def episode_stats(runs_dir: Path, n: int, seeds: Sequence[int], modes: Sequence[str] = ("learned", "random")
                  ) -> dict[str, np.ndarray]:
    """Mean and sd over seeds of every per-episode array of ``episodes.npz`` (``<key>_mean``, ``<key>_sd``)."""
    files = [np.load(run_folder(runs_dir, n, s) / "episodes.npz") for s in seeds]
    out: dict[str, np.ndarray] = {"features": files[0]["features"], "seeds": np.array(len(files))}
    for mode in modes:
        for key in ("reward", "keep_rate", "dev_acc", "dev_loss", "phi"):
            stack = np.stack([f[f"{mode}_{key}"] for f in files]).astype(float)
            out[f"{mode}_{key}_mean"] = stack.mean(0)
            out[f"{mode}_{key}_sd"] = stack.std(0, ddof=1) if len(files) > 1 else np.zeros_like(stack[0])
    return out


def leak_rows(runs: dict[int, list[dict]]) -> list[tuple]:
    """One row per run: N, seed, generated, unique, copies of dev/test dropped, max/mean 4-gram overlap of the
    candidates with dev/test, and the same for the target's real training sentences."""
    rows = []
    for n, ms in runs.items():
        for m in ms:
            a = m["augmentation"]
            rows.append((n, m["seed"], a["generated"], a["unique"], a["copies_of_dev_test"],
                         f"{a['max_ngram_overlap_with_dev_test']:.2f}", f"{a['mean_ngram_overlap_with_dev_test']:.2f}",
                         f"{a['target_train_max_ngram_overlap']:.2f}", f"{a['target_train_mean_ngram_overlap']:.2f}"))
    return rows


@dataclass
class ChainTrace:
    """Word pieces of one sentence at steps 0..t (real tokens only) and, per step, which pieces changed
    (``changed[k][i]``: token i differs from step k−1) and which were masked."""

    tokens: list[list[str]]
    changed: list[list[bool]]
    masked: list[list[bool]]
    rho: float
    steps: int


def chain_trace(gen: MLMGenerator, tokenizer, text: str, rho: float, steps: int, seed: int = 0,
                max_len: int = 48) -> ChainTrace:
    """Walk ``steps`` mask-and-refill steps from ``text`` with the saved generator (sampled, from ``seed``)."""
    enc = tokenizer([text], padding="max_length", truncation=True, max_length=max_len, return_tensors="pt")
    ids, att = enc["input_ids"], enc["attention_mask"]
    special = special_ids_of(tokenizer)
    keep = att[0].bool() & ~torch.isin(ids[0], special)
    g = torch.Generator().manual_seed(seed)
    gen.eval()
    states, masked = [ids], [[False] * int(keep.sum())]
    for _ in range(steps):  # the same steps as run_chain, keeping each step's masked positions
        new, pos = refill_step(gen, states[-1], att, special, int(tokenizer.mask_token_id), rho, g)
        states.append(new)
        masked.append(pos[0][keep].tolist())
    toks = [tokenizer.convert_ids_to_tokens(s[0][keep].tolist()) for s in states]
    changed = [[False] * len(toks[0])] + [[a != b for a, b in zip(toks[k], toks[k - 1])] for k in range(1, len(toks))]
    return ChainTrace(toks, changed, masked, rho, steps)


def generator_of(runs_dir: Path, n: int, seed: int) -> MLMGenerator:
    """The generator a run saved (``generator/model.safetensors``), in eval mode on the CPU."""
    return load_generator(run_folder(runs_dir, n, seed) / "generator")[0]


def load_map(runs_dir: Path, n: int, seed: int) -> dict[str, np.ndarray]:
    f = np.load(run_folder(runs_dir, n, seed) / "map.npz")
    return {k: f[k] for k in f.files}


def change_rates(gen: MLMGenerator, tokenizer, texts: Sequence[str], rho: float, steps: int, seed: int = 0,
                 max_len: int = 48) -> np.ndarray:
    """Mean share of real word pieces that changed at each chain step 1..t over ``texts``, shape (t,)."""
    rates = np.array([[np.mean(c) for c in chain_trace(gen, tokenizer, t, rho, steps, seed + i, max_len).changed[1:]]
                      for i, t in enumerate(texts)])
    return rates.mean(0)
