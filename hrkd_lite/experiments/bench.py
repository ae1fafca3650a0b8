"""``python -m hrkd_lite bench``: what one training step of each method costs, measured in one run.

Every step is forward + backward + AdamW update at the profile's sizes (one batch of ``batch_size`` ×
``max_len`` per domain, ``D = synthetic_domains``), with the real teacher of the profile, frozen, and random
token ids (the cost does not depend on the words):

- ``student``: one shared student, CE on the D batches (the floor: the student's own forward and backward);
- ``hinton_kd``: the same plus the teacher's logits (soft-target KD);
- ``tinybert_single``: D single-domain students (the ``single`` setting), one step each on its domain's batch;
- ``tinybert_multi``: one shared student on the D batches, HRKD's code path without the graph;
- ``hrkd``: the HRKD step (prototypes, MetaGraph, weighted layer losses);
- ``metakd_stage1``: D per-target students, one Meta-KD stage-1 step each (λ_i, TKD on corrupted features);
- ``*_cached``: the same step with the teacher's outputs read from a filled :class:`TeacherCache` (every
  epoch after the first).

``hrkd_by_domains``: the cached HRKD step at D = 2, 4, 8, 16 synthetic domains, and the exponent k of a
least-squares fit t ∝ D^k (1 = linear). ``latency_ms``: forward of teacher and student in eval mode at batch
1 and 32, sequence length 128. Times are medians of ``repeats`` rounds of the package's one
latency helper (``models.measure.round_robin_latency``, ``torch.utils.benchmark.Timer``): every step once per
round, after one warm-up call each, so a load change on a shared machine hits all of them alike.

``bench.json``::

    {"repeats": n, "steps": {name: seconds}, "hrkd_by_domains": {"2": s, "4": s, "8": s, "16": s},
     "latency_ms": {"teacher": {"1": ms, "32": ms}, "student": {"1": ms, "32": ms}},
     "ratios": {...}, "hrkd_domain_exponent": k, "goals": {...}, "setup": {...}}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.losses import hinton_kd
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.teacher_cache import CacheSpec, TeacherCache, clear_teacher_cache, module_fingerprint
from hrkd_lite.methods.baselines.runner import Student, tinybert_loss_builder
from hrkd_lite.methods.hrkd import MetaGraph, preset
from hrkd_lite.methods.hrkd.step import HRKDStudent, hrkd_step
from hrkd_lite.methods.metakd.losses import intermediate_terms, stage1_loss, tkd_loss
from hrkd_lite.methods.metakd.meta_teacher import MetaTeacher
from hrkd_lite.methods.metakd.runner import MetaStudent, TeacherView
from hrkd_lite.methods.metakd.weights import expertise_weights
from hrkd_lite.methods.shared.teachers import CachedTeachers, TeacherBank
from hrkd_lite.models.factory import build_student, build_teacher, teacher_layers_for_student
from hrkd_lite.models.measure import model_latency, round_robin_latency
from hrkd_lite.profiles import Profile
from hrkd_lite.train import build_optimizer
from hrkd_lite.utils import atomic_write_json

STEPS = ("student", "hinton_kd", "tinybert_single", "tinybert_single_cached", "tinybert_multi",
         "tinybert_multi_cached", "hrkd", "hrkd_cached", "metakd_stage1", "metakd_stage1_cached")
DOMAIN_COUNTS = (2, 4, 8, 16)
LATENCY_BATCHES = (1, 32)
LATENCY_SEQ = 128
NUM_LABELS = 2
# the goals, as ratios measured in the same run
GOALS = {"tinybert_cached_over_student": ("<=", 1.3), "hrkd_over_tinybert_multi": ("<=", 1.1),
         "teacher_over_student_latency_32": (">=", 2.5)}
Batch = tuple[int, dict[str, torch.Tensor], np.ndarray]  # (domain, batch, row indices)


@dataclass
class BenchConfig:
    """What to measure: rounds per step, the domain counts of the HRKD sweep, threads (None = torch's)."""

    repeats: int = 5
    domain_counts: tuple[int, ...] = DOMAIN_COUNTS
    threads: int | None = None
    seed: int = 0
    latency_seq: int = LATENCY_SEQ
    latency_repeats: int | None = None  # None = the profile's latency_repeats


def random_batches(num_domains: int, batch: int, seq: int, seed: int = 0) -> list[Batch]:
    """One batch per domain: [CLS] + random word pieces on the first half, padding after (B, T)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for d in range(num_domains):
        ids = torch.randint(1000, 20000, (batch, seq), generator=g)
        ids[:, 0], ids[:, seq // 2 + 1:] = 101, 0
        mask = (ids != 0).long()
        out.append((d, {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
                        "labels": torch.randint(0, NUM_LABELS, (batch,), generator=g)}, np.arange(batch)))
    return out


def time_round_robin(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each training step ``fn()`` over ``repeats`` rounds, with the package's one
    latency helper (:func:`~hrkd_lite.models.measure.round_robin_latency`, autograd on)."""
    res = round_robin_latency(fns, repeats, warmup=1, no_grad=False)
    return {k: v["median_ms"] / 1000 for k, v in res.items()}


def domain_exponent(counts: list[int], seconds: list[float]) -> float:
    """k of the least-squares fit log t = k·log D + c (1 = linear growth in D)."""
    return float(np.polyfit(np.log(counts), np.log(seconds), 1)[0])


class StepFactory:
    """Builds each method's training step on one profile's teacher and random batches."""

    def __init__(self, profile: Profile, teacher: torch.nn.Module, meta_teacher: MetaTeacher) -> None:
        self.prof, self.teacher, self.meta_teacher = profile, teacher, meta_teacher
        t_layers = teacher_layers_for_student(profile, teacher.config.num_layers)
        self.indices = indices_from_map([0, *t_layers])
        self.hidden = teacher.config.hidden_size
        self.spec = CacheSpec(hidden=tuple(self.indices["hid_teacher"]),
                              attention=tuple(self.indices["attn_teacher"]))
        self.key = module_fingerprint(teacher)
        self._templates: dict[tuple[int, bool], torch.nn.Module] = {}

    def new_student(self, num_domains: int, shared_head: bool = False) -> torch.nn.Module:
        """A fresh student (a copy of one built per head layout, so the weights load from disk once)."""
        key = (num_domains, shared_head)
        if key not in self._templates:
            self._templates[key] = build_student(self.prof, NUM_LABELS, num_domains, shared_head)
        return copy.deepcopy(self._templates[key])

    def bank(self, num_domains: int) -> TeacherBank:
        return TeacherBank([self.teacher] * num_domains, list(range(num_domains)))

    def teachers(self, batches: list[Batch], cached: bool, spec: CacheSpec | None = None,
                 call: Callable | None = None, model: torch.nn.Module | None = None) -> CachedTeachers:
        """The runners' teacher wrapper over the batches' rows: a filled cache, or (``cached=False``)
        switched off, so every call runs the teacher (``call(d, batch)``, default the bank)."""
        bank = self.bank(len(batches))
        key = self.key if model is None else module_fingerprint(model)
        cache = TeacherCache(call or bank, spec or self.spec, [b["input_ids"] for _, b, _ in batches],
                             [f"{key}/{d}" for d, _, _ in batches], enabled=cached)
        return CachedTeachers(bank, cache)

    def _student(self, num_domains: int, fit: bool = True) -> Student:
        clf = self.new_student(num_domains)
        fd = FitDenses(clf.config.hidden_size, self.hidden, clf.config.num_layers + 1) if fit else None
        return Student(clf, fd).train()

    @staticmethod
    def _update(module: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def student(self, batches: list[Batch]) -> Callable[[], None]:
        s = self._student(len(batches), fit=False)
        opt = build_optimizer(s, 1e-4)

        def step() -> None:
            loss = sum(F.cross_entropy(s.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"],
                                                    domain=d).logits, b["labels"]) for d, b, _ in batches)
            self._update(s, opt, loss)
        return step

    def hinton_kd(self, batches: list[Batch]) -> Callable[[], None]:
        s, teachers = self._student(len(batches), fit=False), self.teachers(batches, False, CacheSpec())
        opt = build_optimizer(s, 1e-4)

        def step() -> None:
            loss = 0.0
            for d, b, idx in batches:
                out = s.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=d)
                loss = loss + hinton_kd(out.logits, teachers(d, b, idx).logits, b["labels"], temperature=2.0)
            self._update(s, opt, loss)
        return step

    def tinybert_single(self, batches: list[Batch], cached: bool) -> Callable[[], None]:
        """D single-domain students (one head each), one TinyBERT step each (``run tinybert``'s loss)."""
        teachers = self.teachers(batches, cached)
        students = [self._student(1) for _ in batches]
        opts = [build_optimizer(s, 1e-4) for s in students]
        ctx = _BatchContext(self.prof, {d: b for d, b, _ in batches})
        make = tinybert_loss_builder(ctx, teachers)
        losses = [make(s, lambda d: 0) for s in students]

        def step() -> None:
            for (d, _, idx), s, opt, loss_fn in zip(batches, students, opts, losses):
                self._update(s, opt, loss_fn([(d, idx)]))
        return step

    def hrkd(self, batches: list[Batch], cached: bool, graph: bool = True) -> Callable[[], None]:
        """HRKD's step (``graph=False``: its no-graph preset, multi-domain TinyBERT-KD)."""
        cfg = preset("hrkd" if graph else "no_graph")
        teachers = self.teachers(batches, cached)
        clf = self.new_student(len(batches))
        layers = clf.config.num_layers + 1
        student = HRKDStudent(clf, FitDenses(clf.config.hidden_size, self.hidden, layers),
                              MetaGraph(self.hidden, layers, len(batches), cfg) if graph else None).train()
        opt = build_optimizer(student, 1e-4)

        def step() -> None:
            out = hrkd_step(student, teachers, batches, self.indices, cfg, other_masking=False)  # as between snapshots
            self._update(student, opt, out.loss.total)
        return step

    def metakd_stage1(self, batches: list[Batch], cached: bool) -> Callable[[], None]:
        """D per-target students, one stage-1 step each: λ_i from the teacher's logits, rep + att + TKD."""
        view = TeacherView(self.meta_teacher)
        spec = CacheSpec.for_layers(self.indices, feature=True)
        source = self.teachers(batches, cached, spec, lambda d, b: view(b, d), self.meta_teacher).cache
        students = []
        for _ in batches:
            clf = self.new_student(1, shared_head=True)
            students.append(MetaStudent(clf, len(batches), self.hidden).train())
        opts = [build_optimizer(s, 1e-4) for s in students]
        scores = torch.rand(len(batches), batches[0][1]["labels"].shape[0], generator=torch.Generator().manual_seed(1))

        def step() -> None:
            for (d, b, idx), s, opt in zip(batches, students, opts):
                t_out, t_feat = source(d, b, idx)
                s_out, s_feat = s(b, d)
                lam = expertise_weights(t_out.logits, b["labels"], scores[d])
                rep, att = intermediate_terms(s_out, t_out, s.fit, self.indices)
                self._update(s, opt, stage1_loss(rep, att, tkd_loss(s_feat, t_feat, s.fit), lam))
        return step


class _BatchContext:
    """The little of a RunContext that ``tinybert_loss_builder`` reads: the profile and ``batch``."""

    def __init__(self, profile: Profile, batches: dict[int, dict[str, torch.Tensor]]) -> None:
        self.profile, self.batches = profile, batches

    def batch(self, d: int, split: str, idx) -> dict[str, torch.Tensor]:
        return self.batches[d]


def ratios(result: dict) -> dict[str, float]:
    """The goal ratios (and a few more) from a bench result."""
    s, lat = result["steps"], result["latency_ms"]
    return {
        "tinybert_cached_over_student": s["tinybert_multi_cached"] / s["student"],
        "tinybert_single_cached_over_student": s["tinybert_single_cached"] / s["student"],
        "hrkd_over_tinybert_multi": s["hrkd"] / s["tinybert_multi"],
        "hrkd_cached_over_tinybert_multi_cached": s["hrkd_cached"] / s["tinybert_multi_cached"],
        "tinybert_multi_live_over_cached": s["tinybert_multi"] / s["tinybert_multi_cached"],
        "hrkd_live_over_cached": s["hrkd"] / s["hrkd_cached"],
        "metakd_stage1_live_over_cached": s["metakd_stage1"] / s["metakd_stage1_cached"],
        "teacher_over_student_latency_32": lat["teacher"]["32"] / lat["student"]["32"],
        "teacher_over_student_latency_1": lat["teacher"]["1"] / lat["student"]["1"],
    }


def goals_met(r: dict[str, float]) -> dict[str, bool]:
    return {k: (r[k] <= v if op == "<=" else r[k] >= v) for k, (op, v) in GOALS.items()}


def run_bench(profile: Profile, out_dir: str | Path, config: BenchConfig | None = None,
              progress: bool = True) -> dict:
    """Measure every step, the HRKD domain sweep and the latencies; write ``out_dir/bench.json``."""
    cfg = config or BenchConfig()
    threads = cfg.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    clear_teacher_cache()
    D, B, T = profile.synthetic_domains, profile.batch_size, profile.max_len
    teacher = build_teacher(profile, NUM_LABELS, num_domains=max(D, *cfg.domain_counts)).eval()
    teacher.requires_grad_(False)
    meta = MetaTeacher(build_teacher(profile, NUM_LABELS, shared_head=True), max(D, *cfg.domain_counts)).eval()
    meta.requires_grad_(False)
    f = StepFactory(profile, teacher, meta)
    batches = random_batches(D, B, T, cfg.seed)
    fns = {"student": f.student(batches), "hinton_kd": f.hinton_kd(batches)}
    for cached in (False, True):
        tag = "_cached" if cached else ""
        fns["tinybert_single" + tag] = f.tinybert_single(batches, cached)
        fns["tinybert_multi" + tag] = f.hrkd(batches, cached, graph=False)
        fns["hrkd" + tag] = f.hrkd(batches, cached)
        fns["metakd_stage1" + tag] = f.metakd_stage1(batches, cached)
    bar = tqdm(total=3, desc="bench: steps, domain sweep, latency", disable=not progress)
    steps = time_round_robin({k: fns[k] for k in STEPS}, cfg.repeats)
    bar.update()
    del fns
    sweep = {str(n): f.hrkd(random_batches(n, B, T, cfg.seed + n), cached=True) for n in cfg.domain_counts}
    by_domains = time_round_robin(sweep, cfg.repeats)
    bar.update()
    del sweep
    student = f.new_student(D)
    reps = cfg.latency_repeats or profile.latency_repeats
    latency = {name: {str(b): model_latency(model, b, cfg.latency_seq, reps)["median_ms"]
                      for b in LATENCY_BATCHES} for name, model in (("teacher", teacher), ("student", student))}
    bar.update()
    bar.close()
    result: dict[str, Any] = {"repeats": cfg.repeats, "steps": steps, "hrkd_by_domains": by_domains,
                              "latency_ms": latency}
    result["ratios"] = ratios(result)
    result["hrkd_domain_exponent"] = domain_exponent(list(cfg.domain_counts), [by_domains[str(n)]
                                                                               for n in cfg.domain_counts])
    result["goals"] = {**goals_met(result["ratios"]), "hrkd_about_linear_in_domains":
                       bool(abs(result["hrkd_domain_exponent"] - 1) <= 0.25)}
    result["setup"] = {"profile": profile.name, "domains": D, "batch_size": B, "max_len": T,
                       "latency_repeats_used": reps,
                       "teacher": profile.teacher, "student_layers": list(profile.student_layers),
                       "torch": torch.__version__, **asdict(cfg), "threads": threads}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", result)
    return result


def bench_table(result: dict) -> str:
    """The README's markdown table of a ``bench.json``: step medians, sweep, latencies, ratios vs goals."""
    s, st = result["steps"], result["setup"]
    lines = [f"profile `{st['profile']}`: {st['domains']} domains × batch {st['batch_size']} × {st['max_len']} "
             f"tokens, {st['threads']} threads, median of {result['repeats']} rounds", "",
             "| step | live teacher (s) | cached teacher (s) |", "|---|---:|---:|"]
    for name in ("student", "hinton_kd", "tinybert_single", "tinybert_multi", "hrkd", "metakd_stage1"):
        cached = s.get(name + "_cached")
        lines.append(f"| {name} | {s[name]:.3f} | {'-' if cached is None else f'{cached:.3f}'} |")
    sweep = result["hrkd_by_domains"]
    lines += ["", "| HRKD step (cached) at D = | " + " | ".join(sweep) + " | exponent k (t ∝ D^k) |",
              "|---|" + "---:|" * (len(sweep) + 1),
              "| seconds | " + " | ".join(f"{v:.3f}" for v in sweep.values())
              + f" | {result['hrkd_domain_exponent']:.2f} |", ""]
    lat = result["latency_ms"]
    lines += [f"| latency (ms, seq {st['latency_seq']}) | batch 1 | batch 32 |", "|---|---:|---:|"]
    lines += [f"| {m} | {lat[m]['1']:.1f} | {lat[m]['32']:.1f} |" for m in ("teacher", "student")]
    lines += ["", "| ratio | measured | goal | met |", "|---|---:|---|---|"]
    for k, (op, v) in GOALS.items():
        lines.append(f"| {k} | {result['ratios'][k]:.2f} | {op} {v} | {'yes' if result['goals'][k] else 'no'} |")
    k = result["hrkd_domain_exponent"]
    lines.append(f"| hrkd exponent in D | {k:.2f} | about 1 | "
                 f"{'yes' if result['goals']['hrkd_about_linear_in_domains'] else 'no'} |")
    return "\n".join(lines)


def load_bench(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


__all__ = ["BenchConfig", "GOALS", "STEPS", "bench_table", "domain_exponent", "load_bench", "ratios",
           "run_bench", "time_round_robin"]
