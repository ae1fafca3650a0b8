"""``python -m hrkd_lite reproduce``: every method on the same data and splits, one table, the noise.

The *plan* is a list of :class:`RunSpec` (one method with its flags and one seed); each runs through the
method registry (``python -m hrkd_lite run METHOD`` in-process) into ``OUT/runs/<key>/seed<s>/``:

- references: the fine-tuned teacher (multi-task, per-domain heads; the teacher every KD student and
  HRKD distil from) and a teacher with one shared head (AdaBERT's);
- baselines: the student without KD, Hinton KD, TinyBERT-KD single-domain and multi-domain;
- methods: AdaBERT (derived network), Meta-KD, HRKD, and the L2A-style run on its scarce-target setting
  (one source domain in full, the target cut to a few labels; its rows stand apart);
- ablations (``ablations="all"``): the variants notebooks 01, 03 and 04 name.

Resumable: a run whose ``metrics.json`` exists is read back; an interrupted one resumes from its own
checkpoints (each runner's). Around every run the driver measures what the runners do not: wall time,
peak resident memory (sampled) and the examples passed through a frozen teacher encoder
(:mod:`hrkd_lite.experiments.costs`), kept in ``cost.json`` beside ``metrics.json``. The data is loaded
once with data seed 0, so every seed trains on the same splits; the seeds change initialisation and order.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.experiments.costs import measure_costs
from hrkd_lite.profiles import Profile
from hrkd_lite.utils import atomic_write_json

ABLATIONS = ("all", "none")
DATA_SEED = 0  # every seed trains on the same splits
L2A_PAIRS = {"synthetic": ("electronics", "kitchen"), "amazon": ("books", "kitchen")}


@dataclass
class RunSpec:
    """One run of the plan: registry ``method`` with ``flags`` (``teacher`` = key of the teacher run whose
    folder is passed as ``--teacher-dir``), under ``OUT/runs/<key>/seed<seed>``."""

    key: str
    label: str
    method: str
    group: str  # reference | baseline | method | ablation
    seed: int = 0
    flags: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None
    keep_weights: bool = False  # teachers are reused by later runs; students' weights are deleted when done

    def folder(self, out: Path) -> Path:
        return Path(out) / "runs" / self.key / f"seed{self.seed}"


def _specs(profile: Profile, source: str, domains: Sequence[str]) -> tuple[list[RunSpec], list[RunSpec]]:
    """(core runs, ablations) for one seed, in dependency order."""
    src, tgt = L2A_PAIRS.get(source, (domains[0], domains[-1]))
    n_labels = 16 if profile.name == "ci" else 32
    core = [
        RunSpec("teacher", f"teacher ({profile.teacher}, multi-task)", "teacher", "reference",
                flags={"mode": "multitask"}, keep_weights=True),
        RunSpec("teacher-mixed", f"teacher ({profile.teacher}, one shared head)", "teacher", "reference",
                flags={"mode": "mixed"}, keep_weights=True),
        RunSpec("student", "student, no KD", "student", "baseline", flags={"setting": "single"}),
        RunSpec("kd", "Hinton KD", "kd", "baseline", flags={"setting": "single"}, teacher="teacher"),
        RunSpec("tinybert", "TinyBERT-KD, single-domain", "tinybert", "baseline", flags={"setting": "single"},
                teacher="teacher"),
        RunSpec("tinybert-multi", "TinyBERT-KD, multi-domain", "tinybert", "baseline",
                flags={"setting": "multi"}, teacher="teacher"),
        RunSpec("adabert", "AdaBERT (derived network)", "adabert", "method", teacher="teacher-mixed"),
        RunSpec("meta-kd", "Meta-KD", "meta-kd", "method", flags={"teacher_variant": "meta"}, keep_weights=True),
        RunSpec("hrkd", "HRKD", "hrkd", "method", flags={"preset": "hrkd"}, teacher="teacher"),
        RunSpec("l2a", f"L2A-style ({src} -> {tgt}, N = {n_labels})", "l2a", "method",
                flags={"source_domain": src, "target_domain": tgt, "target_labels": n_labels}),
    ]
    abl = [RunSpec(f"hrkd-{p}", f"HRKD ablation: {p}", "hrkd", "ablation", flags={"preset": p}, teacher="teacher")
           for p in ("no_graph", "trainable_graph", "detached", "no_hierarchy", "averaging",
                     "no_reference_attention")]
    abl += [RunSpec(f"adabert-{k}", f"AdaBERT ablation: {text}", "adabert", "ablation", flags=f, teacher="teacher-mixed")
            for k, text, f in (("no-kd", "no KD (γ = 0)", {"gamma": 0.0}),
                               ("logit-kd", "final-logit KD only", {"use_probe_kd": False}),
                               ("uniform-probes", "probes without attention", {"probe_weighting": "uniform"}),
                               ("no-le", "no efficiency loss (β = 0)", {"beta": 0.0}))]
    abl += [RunSpec("meta-kd-mix", "Meta-KD ablation: mix teacher", "meta-kd", "ablation", flags={"teacher_variant": "mix"}),
            RunSpec("meta-kd-single", "Meta-KD ablation: single-domain teachers", "meta-kd", "ablation",
                    flags={"teacher_variant": "single"}),
            RunSpec("meta-kd-batch-mean", "Meta-KD ablation: batch-mean λ (EasyNLP)", "meta-kd", "ablation",
                    flags={"teacher_variant": "meta", "instance_weighting": "batch_mean"}, teacher="meta-kd")]
    return core, abl


def plan_keys(profile: Profile, source: str = "synthetic", domains: Sequence[str] = ("a", "b")) -> list[str]:
    """Every run key a plan can hold (the valid choices of ``--methods``)."""
    core, abl = _specs(profile, source, domains)
    return [s.key for s in core + abl]


def build_plan(profile: Profile, source: str, domains: Sequence[str], seeds: Sequence[int],
               ablations: str = "all", methods: Sequence[str] | None = None) -> list[RunSpec]:
    """The runs, core methods for every seed first, then the ablations; ``methods`` keeps only those keys
    (plus the teachers they need)."""
    check_choice("ablations", ablations, ABLATIONS)
    if not seeds:
        raise HrkdError("seeds must name at least one seed, e.g. 0,1,2")
    core, abl = _specs(profile, source, domains)
    specs = core + (abl if ablations == "all" else [])
    if methods is not None:
        for m in methods:
            check_choice("method", m, [s.key for s in core + abl])
        by_key = {s.key: s for s in core + abl}
        wanted = set(methods)
        for m in list(wanted):  # the teacher chain a kept run needs
            t = by_key[m].teacher
            while t is not None:
                wanted.add(t)
                t = by_key[t].teacher
        specs = [s for s in core + abl if s.key in wanted]
    groups = [[s for s in specs if s.group != "ablation"], [s for s in specs if s.group == "ablation"]]
    return [dataclasses.replace(s, seed=int(seed), flags=dict(s.flags)) for g in groups for seed in seeds for s in g]


# -- time estimates -------------------------------------------------------------------------------

#: Guessed seconds per run (ci, cpu: 2 idle CPU cores, guessed from the notebooks' measured runtimes, not yet
#: timed by this driver; gpu: a Colab T4, unmeasured; paper: 3x gpu). A finished run of the same key (another
#: seed) replaces the guess with its measured wall time.
ESTIMATE_S: dict[str, dict[str, float]] = {
    "ci": {"teacher": 25, "student": 20, "kd": 20, "tinybert": 25, "adabert": 60, "meta-kd": 90, "hrkd": 30,
           "l2a": 120},
    "cpu": {"teacher": 240, "student": 200, "kd": 240, "tinybert": 300, "adabert": 500, "meta-kd": 700,
            "hrkd": 400, "l2a": 300},
    "gpu": {"teacher": 900, "student": 600, "kd": 700, "tinybert": 900, "adabert": 1200, "meta-kd": 2400,
            "hrkd": 1200, "l2a": 900},
}


def estimate_seconds(spec: RunSpec, profile: Profile, out: Path) -> float:
    """0 for a finished run; else the mean wall time of finished runs with the same key, else the table."""
    if (spec.folder(out) / "metrics.json").is_file():
        return 0.0
    seen = [json.loads(p.read_text())["wall_s"] for p in (Path(out) / "runs" / spec.key).glob("seed*/cost.json")]
    if seen:
        return float(sum(seen) / len(seen))
    table = ESTIMATE_S.get(profile.name, ESTIMATE_S["gpu"])
    return float(table.get(spec.method, max(table.values()))) * (3.0 if profile.name == "paper" else 1.0)


def describe_plan(plan: Sequence[RunSpec], profile: Profile, out: Path) -> str:
    """One line per run (done / to run, estimated minutes) and the total: what ``--dry-run`` prints."""
    lines, total = [], 0.0
    for i, s in enumerate(plan, 1):
        est = estimate_seconds(s, profile, out)
        total += est
        state = "done" if est == 0 else f"~{est / 60:.1f} min"
        flags = " ".join(f"--{k.replace('_', '-')} {str(v).lower() if isinstance(v, bool) else v}"
                         for k, v in s.flags.items())
        lines.append(f"{i:>3}. seed {s.seed}  {s.key:<28} run {s.method} {flags}  [{state}]")
    lines.append(f"{len(plan)} runs, {sum(1 for s in plan if estimate_seconds(s, profile, out) == 0)} done; "
                 f"estimated {total / 60:.0f} min left on this profile ({profile.name})")
    return "\n".join(lines)


# -- execution ------------------------------------------------------------------------------------

def _context(base, spec: RunSpec, out: Path):
    folder = spec.folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(base, out_dir=folder, seed=spec.seed)


def run_one(base, spec: RunSpec, out: Path) -> dict:
    """Run ``spec`` through the registry (or read it back); returns ``{"spec", "metrics", "cost"}``."""
    from hrkd_lite.methods.registry import get_method

    folder = spec.folder(out)
    if not (folder / "metrics.json").is_file():
        flags = dict(spec.flags)
        if spec.teacher is not None:
            tspec = dataclasses.replace(spec, key=spec.teacher)
            flags["teacher_dir"] = str(tspec.folder(out) / ("teacher" if spec.teacher.startswith("teacher") else ""))
        resumed = folder.is_dir() and any(folder.iterdir())
        ctx = _context(base, spec, out)
        with measure_costs(ctx.device) as cost:
            get_method(spec.method).runner(ctx, **flags)
        atomic_write_json(folder / "cost.json", {**cost.to_dict(), "resumed": resumed})
        if not spec.keep_weights:
            for p in folder.rglob("*.safetensors"):
                p.unlink()
    return load_run(spec, out)


def load_run(spec: RunSpec, out: Path) -> dict:
    folder = spec.folder(out)
    metrics = json.loads((folder / "metrics.json").read_text())
    cost_path = folder / "cost.json"
    cost = json.loads(cost_path.read_text()) if cost_path.is_file() else {}
    return {"key": spec.key, "label": spec.label, "method": spec.method, "group": spec.group, "seed": spec.seed,
            "flags": spec.flags, "metrics": metrics, "cost": cost}


def run_plan(base, plan: Sequence[RunSpec], out: Path, progress: bool = True,
             on_result=None) -> list[dict]:
    """Every run of ``plan`` in order, one tqdm bar over the plan with the estimated time left.

    The estimate is the plan's per-run guesses scaled by how this machine has done so far (measured wall
    time / guessed time of the runs finished in this call). ``on_result(results)`` after each run. A run
    that raises is reported and skipped; at the end one HrkdError lists the failed runs.
    """
    from tqdm.auto import tqdm

    guesses = [estimate_seconds(s, base.profile, out) for s in plan]
    results: list[dict] = []
    spent, guessed = 0.0, 0.0
    bar = tqdm(total=len(plan), desc="reproduce", disable=not progress)
    failed: list[str] = []
    for i, spec in enumerate(plan):
        bar.set_postfix_str(f"{spec.key} seed {spec.seed}")
        t0 = time.perf_counter()
        try:
            results.append(run_one(base, spec, out))
        except Exception as err:  # noqa: BLE001 - one failed run must not stop a night's plan
            first = str(err).splitlines()[0] if str(err) else ""
            failed.append(f"{spec.key} seed {spec.seed}: {type(err).__name__}: {first}")
            bar.write(f"FAILED {failed[-1]}")
        if guesses[i] > 0:
            spent, guessed = spent + time.perf_counter() - t0, guessed + guesses[i]
        scale = spent / guessed if guessed > 0 else 1.0
        left = scale * sum(guesses[i + 1:])
        bar.set_postfix_str(f"done {spec.key} seed {spec.seed}; ~{left / 60:.0f} min left")
        bar.update(1)
        if on_result is not None and results:
            on_result(results)
    bar.close()
    if failed:
        raise HrkdError(f"{len(failed)} of {len(plan)} runs failed (the others are saved; rerun to retry): "
                        + "; ".join(failed))
    return results


def write_results(results: list[dict], profile: Profile, source: str, seeds: Sequence[int], out: Path,
                  test_sizes: dict[str, int]) -> dict:
    """``OUT/results.json``: the plan's settings, per-domain test sizes, every run's metrics and cost."""
    doc = {"profile": profile.name, "data": source, "seeds": [int(s) for s in seeds], "data_seed": DATA_SEED,
           "test_sizes": test_sizes, "runs": results}
    atomic_write_json(Path(out) / "results.json", doc)
    return doc


def clear_run(spec: RunSpec, out: Path) -> None:
    """Delete one run's folder (to rerun it from scratch)."""
    shutil.rmtree(spec.folder(out), ignore_errors=True)


def figure_names(source: str) -> dict[str, str]:
    suffix = "" if source == "synthetic" else f"_{source}"
    return {"pareto": f"05_pareto{suffix}", "costs": f"05_costs{suffix}"}


def write_outputs(doc: dict, out: Path, figures: Path | None = None) -> str:
    """``OUT/table.md`` (the table, the costs, the verdicts) and the figures into ``figures`` (default OUT)."""
    from hrkd_lite.experiments import nb05
    from hrkd_lite.utils import atomic_write_bytes
    from hrkd_lite.viz import comparison_views as V
    from hrkd_lite.viz.common import save_figure

    rows = nb05.summarize(doc["runs"])
    seeds = f"seeds {','.join(map(str, doc['seeds']))}" if len(doc["seeds"]) > 1 else f"one seed ({doc['seeds'][0]})"
    text = [f"Profile `{doc['profile']}`, data `{doc['data']}`, {seeds}; test accuracy (%) of each domain's "
            "best-dev checkpoint, mean ± sd over seeds; latency = median forward time measured in each run; "
            "train time = wall time of the run on this machine (teachers a run trains itself included).", "",
            nb05.table_markdown(rows), "", nb05.cost_markdown(rows), "", "Verdicts (`hrkd_lite.noise.compare`):", ""]
    text += [f"- {q}: {s}" for q, _, s in nb05.verdict_lines(rows, doc["test_sizes"])]
    table = "\n".join(text) + "\n"
    atomic_write_bytes(Path(out) / "table.md", table.encode())
    names = figure_names(doc["data"])
    folder = Path(figures) if figures is not None else Path(out)
    save_figure(V.plot_pareto(rows, title=f"{doc['data']}, {doc['profile']} profile, {seeds}"), names["pareto"],
                folder=folder)
    save_figure(V.plot_costs(rows), names["costs"], folder=folder)
    return table


def reproduce(profile: Profile, source: str, seeds: Sequence[int], out: str | Path, data_dir: str | None = None,
              ablations: str = "all", methods: Sequence[str] | None = None, dry_run: bool = False,
              progress: bool = True, inner_progress: bool = True, figures: str | Path | None = None) -> dict | None:
    """Print the plan and its estimated time; unless ``dry_run``, run it (reusing finished runs) and write
    ``OUT/results.json``, ``OUT/table.md`` and the figures. Returns the results document."""
    from hrkd_lite.data import load_data
    from hrkd_lite.methods.shared.context import prepare

    out = Path(out)
    data = load_data(source, data_dir, profile=profile, seed=DATA_SEED)
    plan = build_plan(profile, source, data.domains, seeds, ablations, methods)
    print(describe_plan(plan, profile, out))
    if dry_run:
        return None
    base = prepare(profile, data, seed=int(seeds[0]), out_dir=out, progress=inner_progress)
    sizes = {d: base.encoded.size(i, "test") for i, d in enumerate(data.domains)}

    def save(results: list[dict]) -> dict:  # after every run, so a stopped plan still leaves its table
        doc = write_results(results, profile, source, seeds, out, sizes)
        write_outputs(doc, out, figures)
        return doc

    return save(run_plan(base, plan, out, progress=progress, on_result=save))
