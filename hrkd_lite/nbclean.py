"""Strip outputs, execution counts and widget state from notebooks (``python -m hrkd_lite.nbclean DIR``),
or check that they are stripped (``--check``; exit 1 and a list of offenders otherwise).

Stripping is ``nbstripout.strip_output`` (cell ids kept, so a stripped notebook diffs only where it
changed; widget state and per-cell execution timings dropped too); the check is our own short list.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def notebook_problems(nb: dict) -> list[str]:
    """What keeps a notebook from being committed: outputs, execution counts, widget state."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has an execution count")
    if "widgets" in nb.get("metadata", {}):
        problems.append("metadata holds widget state")
    return problems


def strip(nb: dict) -> dict:
    """``nb`` without outputs, execution counts, widget state and execution timings (nbstripout)."""
    from nbformat import from_dict
    from nbstripout import strip_output

    return strip_output(from_dict(nb), keep_output=False, keep_count=False, keep_id=True,
                        extra_keys=["metadata.widgets", "cell.metadata.execution"])


def notebooks(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="*", default=["notebooks"])
    ap.add_argument("--check", action="store_true", help="only report; exit 1 if a notebook is not clean")
    args = ap.parse_args(argv)
    bad = 0
    for root in map(Path, args.paths):
        for path in notebooks(root) if root.is_dir() else [root]:
            nb = json.loads(path.read_text())
            problems = notebook_problems(nb)
            if args.check:
                if problems:
                    bad += 1
                    print(f"{path}: {'; '.join(problems)}")
            elif problems:
                path.write_text(json.dumps(strip(nb), indent=1, ensure_ascii=False) + "\n")
                print(f"stripped {path}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
