"""Command line: ``python -m hrkd_lite {data,run,demo,compare,reproduce,bench,scarce} ...``.

Every user error (unknown method/domain/profile/source, missing or unreadable data, empty split, label
mismatch, missing teacher package) exits with status 2 and one line on stderr that names the bad value
and the valid choices — never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hrkd_lite.errors import HrkdError

DATA_SOURCES = ("synthetic", "amazon", "mnli", "local")


class _Parser(argparse.ArgumentParser):
    """argparse that raises HrkdError (one line) instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise HrkdError(f"{self.prog}: {message}")


def _common(p: argparse.ArgumentParser, out_required: bool = False) -> None:
    p.add_argument("--profile", default=None, help="ci | cpu | gpu | paper (default: $HRKD_PROFILE or cpu)")
    p.add_argument("--data", "--source", dest="data", default="synthetic", help="synthetic | amazon | mnli | local")
    p.add_argument("--data-dir", default=None, help="folder of the amazon / mnli / local data")
    p.add_argument("--domains", default=None, help="comma-separated subset of domains")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--few-shot", type=float, default=None, help="fraction of each domain's train split")
    p.add_argument("--few-shot-domains", default=None,
                   help="comma-separated domains that --few-shot reduces (default: every domain)")
    p.add_argument("--few-shot-mode", default="prefix", choices=("prefix", "stratified"),
                   help="prefix: first rows in file order (HRKD code, default) | stratified random subset")
    p.add_argument("--out", required=out_required, default=None, help="output folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--no-teacher-cache", action="store_true",
                   help="run the frozen teacher on every batch instead of reusing its outputs from the first epoch")


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}; valid choices: true, false")


def _train_cap(text: str) -> int | str:
    """``--train-per-domain``: a positive integer, or ``"all"`` (the source's own splits)."""
    if text == "all":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"invalid --train-per-domain {text!r}; valid choices: a positive integer or 'all'")


def _names(text: str | None) -> list[str] | None:
    """A comma-separated list of domain names (None when not given)."""
    return [d.strip() for d in text.split(",")] if text else None


def _models(p: argparse.ArgumentParser) -> None:
    """Profile overrides every ``run`` method takes: models by name or folder, and a step cap."""
    p.add_argument("--teacher", dest="teacher_model", default=None,
                   help="teacher checkpoint: 'minilm' (offline package), a hub name or a local folder in the "
                        "Hugging Face format (default: the profile's)")
    p.add_argument("--student", dest="student_model", default=None,
                   help="student checkpoint: 'layers' (the teacher truncated to the profile's layers), a hub "
                        "name or a local folder (default: the profile's)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop every training loop of the run after this many optimiser steps (smoke runs)")
    p.add_argument("--train-per-domain", type=_train_cap, default=None,
                   help="cap on each domain's train split: a number, or 'all' for the whole split (default: the "
                        "profile's, e.g. 400 on cpu); dev and test keep the profile's caps unless 'all'")


def _profile(args: argparse.Namespace):
    from hrkd_lite.profiles import get_profile

    profile = get_profile(args.profile)
    overrides = {k: v for k, v in (("teacher", getattr(args, "teacher_model", None)),
                                   ("student", getattr(args, "student_model", None)),
                                   ("max_steps", getattr(args, "max_steps", None))) if v is not None}
    if overrides.get("max_steps", 1) < 1:
        raise HrkdError(f"--max-steps must be >= 1, got {overrides['max_steps']}")
    cap = getattr(args, "train_per_domain", None)
    if cap == "all":  # the source's own splits (Amazon: HRKD's 1,6xx / 17x-19x / 200 per domain)
        overrides.update(train_per_domain=None, dev_per_domain=None, test_per_domain=None)
    elif cap is not None:
        overrides["train_per_domain"] = cap
    return profile.with_overrides(**overrides) if overrides else profile


def _load(args: argparse.Namespace):
    from hrkd_lite.data import load_data
    from hrkd_lite.errors import check_choice

    profile = _profile(args)
    check_choice("data source", args.data, DATA_SOURCES)
    data = load_data(args.data, args.data_dir, profile=profile, seed=args.seed, few_shot=args.few_shot,
                     domains=_names(args.domains), few_shot_mode=args.few_shot_mode,
                     few_shot_domains=_names(args.few_shot_domains))
    return profile, data


def cmd_data(argv: list[str]) -> int:
    p = _Parser(prog="hrkd_lite data", description="Load a multi-domain dataset and describe it.")
    _common(p)
    p.add_argument("--describe", action="store_true", help="print per-domain split sizes and label balance")
    args = p.parse_args(argv)
    _, data = _load(args)
    print(data.describe())
    return 0


def cmd_run(argv: list[str]) -> int:
    from hrkd_lite.methods.registry import get_method, load_all

    if not argv or argv[0].startswith("-"):
        raise HrkdError(f"run needs a METHOD; valid choices: {', '.join(sorted(load_all()))}")
    spec = get_method(argv[0])
    p = _Parser(prog=f"hrkd_lite run {spec.name}", description=spec.help)
    _common(p, out_required=True)
    _models(p)
    for f in spec.flags:
        kind = _parse_bool if f.type is bool else f.type
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=f.default,
                       choices=f.choices, help=f.help)
    args = p.parse_args(argv[1:])
    from hrkd_lite.methods.shared.context import prepare

    profile, data = _load(args)
    ctx = prepare(profile, data, seed=args.seed, out_dir=Path(args.out), progress=not args.no_progress,
                  teacher_cache=not args.no_teacher_cache)
    flags = {f.name: getattr(args, f.name) for f in spec.flags}
    metrics = spec.runner(ctx, **flags)
    from hrkd_lite.methods.shared.metrics import format_metrics

    print(format_metrics(metrics))
    print(f"wrote {Path(args.out) / 'metrics.json'}")
    return 0


def cmd_demo(argv: list[str]) -> int:
    p = _Parser(prog="hrkd_lite demo", description="Teacher + three baselines; table and figure.")
    _common(p)
    p.add_argument("--figures", default="figures")
    args = p.parse_args(argv)
    from hrkd_lite.experiments.demo import run_demo

    profile, data = _load(args)
    run_demo(profile, data, seed=args.seed, out_dir=Path(args.out or "runs/demo"),
             figures_dir=Path(args.figures), progress=not args.no_progress)
    return 0


def cmd_compare(argv: list[str]) -> int:
    p = _Parser(prog="hrkd_lite compare", description="One table from several runs' metrics.json.")
    p.add_argument("runs", nargs="+", help="run folders (or metrics.json files)")
    p.add_argument("--split", default="test", choices=("dev", "test"))
    args = p.parse_args(argv)
    from hrkd_lite.methods.shared.metrics import compare_table, read_metrics

    print(compare_table([read_metrics(Path(r)) for r in args.runs], split=args.split))
    return 0


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise HrkdError(f"invalid --seeds {text!r}; valid choices: comma-separated integers such as 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise HrkdError(f"invalid --seeds {text!r}; valid choices: distinct comma-separated integers such as 0,1,2")
    return seeds


def cmd_reproduce(argv: list[str]) -> int:
    p = _Parser(prog="hrkd_lite reproduce", description="Every method on the same data and splits, resumably: "
                "OUT/results.json, OUT/table.md and the comparison figures.")
    p.add_argument("--profile", default=None, help="ci | cpu | gpu | paper (default: $HRKD_PROFILE or cpu)")
    p.add_argument("--data", "--source", dest="data", default="synthetic", help="synthetic | amazon | mnli | local")
    p.add_argument("--data-dir", default=None, help="folder of the amazon / mnli / local data")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--out", required=True, help="output folder (finished runs in it are reused)")
    p.add_argument("--ablations", default="all", help="all | none: the ablations notebooks 01, 03 and 04 name")
    p.add_argument("--methods", default=None, help="comma-separated run keys to keep (default: the whole plan)")
    p.add_argument("--figures", default=None, help="folder for the figures (default: OUT)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and its estimated time, run nothing")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    from hrkd_lite.errors import check_choice
    from hrkd_lite.experiments.reproduce import ABLATIONS, reproduce
    from hrkd_lite.profiles import get_profile

    profile = get_profile(args.profile)
    check_choice("data source", args.data, DATA_SOURCES)
    check_choice("ablations", args.ablations, ABLATIONS)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    reproduce(profile, args.data, _seeds(args.seeds), Path(args.out), data_dir=args.data_dir,
              ablations=args.ablations, methods=methods, dry_run=args.dry_run, progress=not args.no_progress,
              inner_progress=not args.no_progress, figures=args.figures)
    if not args.dry_run:
        print(f"wrote {Path(args.out) / 'results.json'}, {Path(args.out) / 'table.md'} and the figures")
    return 0


def cmd_bench(argv: list[str]) -> int:
    p = _Parser(prog="hrkd_lite bench", description="Time one training step of every method, HRKD's step "
                "against the number of domains, and teacher/student latency; writes OUT/bench.json.")
    p.add_argument("--profile", default=None, help="ci | cpu | gpu | paper (default: $HRKD_PROFILE or cpu)")
    p.add_argument("--out", default="runs/bench", help="output folder (default runs/bench)")
    p.add_argument("--repeats", type=int, default=5, help="rounds per step; the median is reported")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    if args.repeats < 1:
        raise HrkdError(f"--repeats must be >= 1, got {args.repeats}")
    from hrkd_lite.experiments.bench import BenchConfig, bench_table, run_bench
    from hrkd_lite.profiles import get_profile

    result = run_bench(get_profile(args.profile), Path(args.out),
                       BenchConfig(repeats=args.repeats, threads=args.threads), progress=not args.no_progress)
    print(bench_table(result))
    print(f"wrote {Path(args.out) / 'bench.json'}")
    return 0


def cmd_scarce(argv: list[str]) -> int:
    p = _Parser(prog="hrkd_lite scarce", description="One data-scarce synthetic domain: HRKD (frozen and trainable "
                "graph), multi- and single-domain TinyBERT-KD and the no-KD student on it, with the noise rule, and "
                "how far HRKD's domain weights depart from uniform; writes OUT/scarce.json.")
    p.add_argument("--profile", default=None, help="ci | cpu | gpu | paper (default: $HRKD_PROFILE or cpu)")
    p.add_argument("--target", default="kitchen", help="the data-scarce domain (default kitchen)")
    p.add_argument("--fraction", type=float, default=0.1, help="share of its train split kept (default 0.1)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the profile's)")
    p.add_argument("--out", default="runs/scarce", help="output folder (default runs/scarce)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    from hrkd_lite.experiments.scarce import run_scarce, scarce_report
    from hrkd_lite.profiles import get_profile

    seeds = _seeds(args.seeds) if args.seeds else None
    result = run_scarce(get_profile(args.profile), Path(args.out), target=args.target, fraction=args.fraction,
                        seeds=seeds, progress=not args.no_progress)
    print("\n".join(scarce_report(result)))
    print(f"wrote {Path(args.out) / 'scarce.json'}")
    return 0


COMMANDS = {"data": cmd_data, "run": cmd_run, "demo": cmd_demo, "compare": cmd_compare, "reproduce": cmd_reproduce,
            "bench": cmd_bench, "scarce": cmd_scarce}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            print("usage: python -m hrkd_lite {data,run,demo,compare,reproduce,bench,scarce} ...  (add -h to any command)")
            return 0
        if argv[0] not in COMMANDS:
            raise HrkdError(f"unknown command {argv[0]!r}; valid choices: {', '.join(COMMANDS)}")
        return COMMANDS[argv[0]](argv[1:])
    except HrkdError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
