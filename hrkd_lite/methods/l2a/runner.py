"""``python -m hrkd_lite run l2a``: the whole L2A-style reconstruction for one source -> target pair
(``docs/methods/l2a.md``).

Stages (each cached in ``--out`` so an interrupted run resumes where it stopped):

1. setting: ``--source-domain`` full, ``--target-domain`` cut to ``--target-labels`` rows (stratified);
2. teachers: fine-tuned on source + target (one shared head) and on the target only; both are reported,
   ``--teacher-data`` picks the one the students learn from;
3. generator: the MLM fine-tuned on source ∪ labelled-target text (``generator/``, reusable);
4. candidate pool: mask-and-refill chains, de-duplicated, teacher-labelled (``pool.safetensors``), with the
   n-gram leak check against the target's dev and test sentences;
5. students no KD / KD / KD + random augmentation / KD + learned selection (``students/<mode>/``);
6. ``metrics.json`` (target dev/test accuracy of the L2A-style student, params, latency, baselines,
   augmentation counts) and ``episodes.npz`` (reward, keep rate, selector weights per episode).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.l2a.chain import CandidatePool, build_pool, ngram_overlap, teacher_view
from hrkd_lite.methods.l2a.config import FEATURES, L2AConfig, config_for
from hrkd_lite.methods.l2a.generator import special_ids_of, train_generator
from hrkd_lite.methods.l2a.setting import SOURCE, TARGET, L2ASetting, make_setting
from hrkd_lite.methods.l2a.students import BEST, StudentInputs, new_student, pool_features, train_student
from hrkd_lite.methods.registry import Flag, MethodSpec, register
from hrkd_lite.methods.shared.context import RunContext, prepare
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.teachers import train_teacher
from hrkd_lite.models import count_parameters
from hrkd_lite.train import load_weights
from hrkd_lite.utils import atomic_write_bytes

STUDENTS = {"no_kd": "student, no KD", "kd": "KD, target only", "random": "KD + random augmentation",
            "learned": "KD + learned selection (L2A-style)"}


def train_teachers(sctx: RunContext, setting: L2ASetting, cfg: L2AConfig) -> dict[str, dict]:
    """Both teachers: ``{"source+target": {...}, "target": {...}}`` with model, head, dev, test accuracy."""
    out = {}
    bank, acc = train_teacher(sctx, mode="mixed", name="teacher_source_target")
    out["source+target"] = {"model": bank[TARGET], "head": bank.heads[TARGET],
                            "dev": acc["dev"][setting.target], "test": acc["test"][setting.target]}
    prof = sctx.profile
    steps_per_epoch = math.ceil(setting.target_labels / prof.batch_size)
    epochs = max(prof.teacher_epochs, math.ceil(cfg.target_only_min_steps / steps_per_epoch))
    tctx = prepare(prof.with_overrides(teacher_epochs=epochs), setting.data.select_domains([setting.target]),
                   seed=sctx.seed, out_dir=sctx.out_dir, progress=sctx.progress, tokenizer=sctx.tokenizer)
    bank, acc = train_teacher(tctx, mode="mixed", name="teacher_target")
    out["target"] = {"model": bank[0], "head": bank.heads[0], "dev": acc["dev"][setting.target],
                     "test": acc["test"][setting.target], "epochs": epochs}
    return out


def _save_pool(path: Path, pool: CandidatePool) -> None:
    tensors = {k: getattr(pool, k).contiguous() for k in ("input_ids", "attention_mask", "step", "from_source",
                                                            "seed_row", "teacher_logits", "embedding")}
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata={"stats": json.dumps(pool.stats)}))


def _load_pool(path: Path) -> CandidatePool:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        stats = json.loads(fh.metadata()["stats"])
        t = {k: fh.get_tensor(k) for k in fh.keys()}
    return CandidatePool(t["input_ids"], t["attention_mask"], t["step"], t["from_source"], t["seed_row"], stats,
                         t["teacher_logits"], t["embedding"])


def make_pool(sctx: RunContext, cfg: L2AConfig, teacher: dict, gen_dir: Path) -> CandidatePool:
    """Train/reuse the generator, walk the chains, label the candidates with the teacher (cached)."""
    path = sctx.out_dir / "pool.safetensors"
    if path.is_file():
        return _load_pool(path)
    enc, tok, dev = sctx.encoded.tensors, sctx.tokenizer, sctx.device
    src, tgt = enc[SOURCE]["train"], enc[TARGET]["train"]
    gen, _ = train_generator(torch.cat([src["input_ids"], tgt["input_ids"]]),
                             torch.cat([src["attention_mask"], tgt["attention_mask"]]), tok, gen_dir,
                             kind=cfg.generator, teacher=sctx.profile.teacher, steps=cfg.mlm_steps,
                             batch=cfg.mlm_batch, lr=cfg.mlm_lr, rate=cfg.mask_rate, seed=sctx.seed, device=dev,
                             progress=sctx.progress, mixed_precision=sctx.profile.mixed_precision)
    pool = build_pool(gen, tgt, src, [enc[TARGET]["dev"], enc[TARGET]["test"]], special_ids_of(tok),
                      int(tok.mask_token_id), seeds=cfg.pool_seeds, source_share=cfg.source_seed_share,
                      rate=cfg.mask_rate, steps=cfg.chain_steps, seed=sctx.seed,
                      temperature=cfg.refill_temperature, device=dev)
    pool.teacher_logits, pool.embedding = teacher_view(teacher["model"], teacher["head"],
                                                       {"input_ids": pool.input_ids,
                                                        "attention_mask": pool.attention_mask}, device=dev)
    _save_pool(path, pool)
    return pool


def leak_check(sctx: RunContext, pool: CandidatePool, n: int = 4) -> dict[str, float]:
    """Share of each candidate's word-piece n-grams found in target dev/test sentences (max and mean),
    next to the same numbers for the target's own training sentences (what real text scores)."""
    enc, special = sctx.encoded.tensors[TARGET], special_ids_of(sctx.tokenizer)
    refs = [enc["dev"], enc["test"]]
    gen = ngram_overlap({"input_ids": pool.input_ids, "attention_mask": pool.attention_mask}, refs, special, n)
    real = ngram_overlap(enc["train"], refs, special, n)
    return {"n": n, "max_ngram_overlap_with_dev_test": float(gen.max()) if len(gen) else 0.0,
            "mean_ngram_overlap_with_dev_test": float(gen.mean()) if len(gen) else 0.0,
            "target_train_max_ngram_overlap": float(real.max()), "target_train_mean_ngram_overlap": float(real.mean())}


def write_episodes(path: Path, results: dict[str, dict], features: tuple[str, ...]) -> None:
    """``episodes.npz``: per student mode, per episode reward, keep rate, dev accuracy / loss, φ."""
    arrays: dict[str, np.ndarray] = {"features": np.array(list(features) + ["bias"])}
    for mode, res in results.items():
        log = res["log"]
        arrays[f"{mode}_reward"] = np.array([e["reward"] for e in log])
        arrays[f"{mode}_keep_rate"] = np.array([np.nan if e["keep_rate"] is None else e["keep_rate"] for e in log])
        arrays[f"{mode}_dev_acc"] = np.array([e["dev_acc"] for e in log])
        arrays[f"{mode}_dev_loss"] = np.array([e["dev_loss"] for e in log])
        arrays[f"{mode}_phi"] = np.array([e["phi"] for e in log])
    if "learned" in results:  # the notebook's default names
        arrays.update(reward=arrays["learned_reward"], keep_rate=arrays["learned_keep_rate"],
                      weights=arrays["learned_phi"])
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def keep_map(inp: StudentInputs, folder: Path, phi: list[float], setting: L2ASetting, max_source: int = 200
             ) -> dict[str, np.ndarray]:
    """Embeddings of source, target and generated rows and each candidate's final keep probability."""
    from hrkd_lite.methods.l2a.selector import LogisticSelector

    student = new_student(inp)
    load_weights(folder / BEST, student.classifier)
    sel = LogisticSelector(len(inp.cfg.selector_features))
    sel.phi = torch.tensor(phi, dtype=torch.float64)
    keep = sel.keep_prob(pool_features(inp, student.classifier, np.arange(len(inp.pool)))).numpy()
    enc = inp.ctx.encoded.tensors
    src = {k: v[:max_source] for k, v in enc[SOURCE]["train"].items()}
    _, src_emb = teacher_view(inp.teacher, inp.teacher_head, src, device=inp.ctx.device)
    _, tgt_emb = teacher_view(inp.teacher, inp.teacher_head, enc[TARGET]["train"], device=inp.ctx.device)
    return {"source": src_emb.numpy(), "target": tgt_emb.numpy(), "generated": inp.pool.embedding.numpy(),
            "keep_prob": keep, "from_source": inp.pool.from_source.numpy(), "step": inp.pool.step.numpy()}


def _parse_ints(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(x) for x in str(text).split(","))
    except ValueError:
        raise HrkdError(f"invalid layer list {text!r}; valid choices: 3,6 or 2,4,6") from None


def run_l2a(ctx: RunContext, source_domain: str | None = None, target_domain: str | None = None,
            target_labels: int = 32, generator_dir: str | None = None, selector_features: str | None = None,
            student_layers: str | None = None, **switches) -> dict:
    """Run every stage (see the module docstring) and return the metrics written to ``metrics.json``."""
    t0 = time.perf_counter()
    feats = tuple(f.strip() for f in selector_features.split(",")) if selector_features else None
    cfg = config_for(ctx.profile.name, selector_features=feats, student_layers=_parse_ints(student_layers),
                     **switches)
    cap = ctx.profile.max_steps
    if cap is not None:  # --max-steps: the generator, the students and the teachers stop within cap steps
        inner = min(cfg.inner_steps, cap)
        cfg = cfg.with_overrides(mlm_steps=min(cfg.mlm_steps, cap), inner_steps=inner,
                                 episodes=max(1, min(cfg.episodes, cap // inner)))
    domains = ctx.data.domains
    setting = make_setting(ctx.data, source_domain or domains[0], target_domain or domains[-1], target_labels,
                           seed=ctx.seed)
    sctx = prepare(ctx.profile, setting.data, seed=ctx.seed, out_dir=ctx.out_dir, progress=ctx.progress,
                   tokenizer=ctx.tokenizer)
    teachers = train_teachers(sctx, setting, cfg)
    teacher = teachers[cfg.teacher_data]
    gen_dir = Path(generator_dir) if generator_dir else sctx.out_dir / "generator"
    pool = make_pool(sctx, cfg, teacher, gen_dir)
    t_logits, t_emb = teacher_view(teacher["model"], teacher["head"], sctx.encoded.tensors[TARGET]["train"],
                                   device=sctx.device)
    inp = StudentInputs(sctx, cfg, teacher["model"], teacher["head"], t_logits, pool, t_emb.mean(0))
    modes = ["no_kd", "kd", "random"] + (["learned"] if cfg.use_selector else [])
    results = {m: train_student(inp, m, sctx.out_dir / "students" / m) for m in modes}
    main = "learned" if cfg.use_selector else "random"
    write_episodes(sctx.out_dir / "episodes.npz", results, cfg.selector_features)
    kmap = keep_map(inp, sctx.out_dir / "students" / main, results[main]["phi"], setting)
    buf_path = sctx.out_dir / "map.npz"
    import io

    buf = io.BytesIO()
    np.savez(buf, **kmap)
    atomic_write_bytes(buf_path, buf.getvalue())
    student = new_student(inp).classifier
    load_weights(sctx.out_dir / "students" / main / BEST, student)
    kept = sum(e["kept"] for e in results[main]["log"])
    shown = sum(min(cfg.candidates_per_episode, len(pool)) for _ in results[main]["log"])
    t_params = count_parameters(teacher["model"])["total"]
    s_params = count_parameters(student)["total"]
    extra = {
        "domains": [setting.target], "source_domain": setting.source, "target_domain": setting.target,
        "target_labels": setting.target_labels, "config": cfg.to_dict(), "student_mode": main,
        "baselines": {
            **{f"teacher ({k})": {"dev": v["dev"], "test": v["test"]} for k, v in teachers.items()},
            **{STUDENTS[m]: {"dev": r["dev"], "test": r["test"], "best_episode": r["best_episode"]}
               for m, r in results.items()}},
        "augmentation": {"generated": pool.stats["generated"], "unique": len(pool), "kept": kept,
                         "shown_to_selector": shown, **{k: v for k, v in pool.stats.items() if k != "generated"},
                         **leak_check(sctx, pool)},
        "teacher_params": t_params, "param_ratio": s_params / t_params,
        "depth_ratio": len(cfg.student_layers) / teacher["model"].config.num_layers,
        "test_examples": sctx.encoded.size(TARGET, "test"),
        "seconds_this_call": time.perf_counter() - t0,
    }
    return write_metrics(sctx, "l2a", {setting.target: results[main]["dev"]},
                         {setting.target: results[main]["test"]}, student, extra)


register(MethodSpec("l2a", run_l2a, "L2A-style reconstruction: learned cross-domain augmentation of a "
                    "data-scarce target domain (source -> target)", [
    Flag("source_domain", str, None, "resource-rich source domain (default: the first domain)"),
    Flag("target_domain", str, None, "data-scarce target domain (default: the last domain)"),
    Flag("target_labels", int, 32, "labelled target training examples kept (stratified, from --seed)"),
    Flag("teacher_data", str, None, "what the students' teacher is trained on", ("source+target", "target")),
    Flag("generator", str, None, "MLM generator", ("encoder_mlm", "small_mlm")),
    Flag("generator_dir", str, None, "folder of a saved generator to reuse (else OUT/generator)"),
    Flag("mask_rate", float, None, "share ρ of tokens masked and refilled per chain step (default 0.15)"),
    Flag("chain_steps", int, None, "mask-and-refill steps t per seed (default 3)"),
    Flag("source_seed_share", float, None, "share of chain seeds drawn from the source (default 0.3)"),
    Flag("use_selector", bool, None, "false: KD + random augmentation is the reported student"),
    Flag("selector_features", str, None, "comma list from " + ",".join(FEATURES)),
    Flag("reward", str, None, "selector reward on target dev", ("dev_loss", "dev_acc")),
    Flag("reward_baseline", str, None, "REINFORCE baseline", ("moving_average", "none")),
    Flag("kd_loss", str, None, "distillation loss", ("logit", "tinybert")),
    Flag("student_layers", str, None, "teacher layers the student keeps: 3,6 (default) or 2,4,6"),
    Flag("episodes", int, None, "selector episodes (the profile's size by default)"),
    Flag("inner_steps", int, None, "student steps per episode"),
    Flag("mlm_steps", int, None, "generator fine-tuning steps"),
]))
