"""``run multi-teacher``: stage A of HRKD, the multi-domain "HRKD-teacher" (``docs/methods/hrkd.md`` §1.2, §1.3, §3).

Shared encoder and pooler, one linear head per domain, loss Σ_d CE(teacher(x_d, head=d), y_d) over one
batch per domain per step (the HRKD sampler), dev accuracy per domain every ``eval_every`` steps and at
epoch ends, and **one best-dev checkpoint per domain** (``best_<domain>.safetensors``): stage B uses
domain d's checkpoint as d's teacher (``per_domain_teacher``). The training itself is the shared
``methods.common.train_teacher`` (mode ``multitask``); this runner adds the comparison with one
best-mean checkpoint and points ``run hrkd --teacher-dir`` at its folder.
"""

from __future__ import annotations

from hrkd_lite.methods.common import RunContext, accuracy, load_classifier, train_teacher, write_metrics
from hrkd_lite.methods.registry import MethodSpec, register


def run_multi_teacher(ctx: RunContext) -> dict:
    """Train (or reuse) ``out_dir/teacher`` and write ``metrics.json``.

    ``accuracy``: each domain tested with its own best-dev checkpoint (how HRKD reports);
    ``accuracy_best_mean``: every domain tested with the single checkpoint best on the mean dev accuracy.
    """
    bank, acc = train_teacher(ctx, mode="multitask", name="teacher")
    folder = ctx.out_dir / "teacher"
    per_dev = {k: v for k, v in acc["dev"].items() if k != "average"}
    per_test = {k: v for k, v in acc["test"].items() if k != "average"}
    extra: dict = {"teacher_mode": "multitask", "teacher_dir": str(folder),
                   "checkpoint_selection": "per_domain"}
    if (folder / "best_mean.safetensors").is_file():
        mean_model = load_classifier(folder, "best_mean.safetensors").to(ctx.device)
        extra["accuracy_best_mean"] = {
            split: {n: accuracy(mean_model, ctx, d, split) for d, n in enumerate(ctx.domains)}
            for split in ("dev", "test")
        }
    return write_metrics(ctx, "multi-teacher", per_dev, per_test, bank[0], extra)


register(MethodSpec("multi-teacher", run_multi_teacher,
                    "HRKD stage A: multi-task teacher (shared encoder, per-domain heads, per-domain best-dev)"))
