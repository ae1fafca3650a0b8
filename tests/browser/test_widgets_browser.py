"""Real-browser check of every widget (``make browser-test``): JupyterLab on 127.0.0.1 with a token, a
headless Chromium from the system's packages driven by playwright over CDP, Run All Cells on the
widgets-only demo notebook (``tests/widget_demo.py``), then each control is moved with the mouse or the
keyboard and the image under it must change. JupyterLab and Chromium are started here and stopped by PID.

Skipped unless ``HRKD_BROWSER_TEST=1`` (the Makefile target sets it); ``HRKD_CHROMIUM`` names the browser
(default ``/usr/bin/chromium``). Screenshots and the JupyterLab log go to ``runs/browser-test/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.widget_demo import WIDGETS, write_demo

if os.environ.get("HRKD_BROWSER_TEST") != "1":
    pytest.skip("real-browser test: run it with `make browser-test`", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("HRKD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "runs" / "browser-test"
MS = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process we started (by PID), then SIGKILL its process group if it lingers."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait_for(check, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.3)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """JupyterLab serving the demo notebook; yields the notebook's URL (token included)."""
    root = tmp_path_factory.mktemp("lab")
    write_demo(root)
    settings = root / ".lab-settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    # render every cell (no virtual scrolling), so off-screen widgets exist in the page
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)  # no "get news?" question
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    token, port = secrets.token_hex(16), _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel starts as a user's does
    env.update(PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(root / ".lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
               HRKD_PROFILE="ci", HF_HUB_OFFLINE="1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
         "--allow-root"],  # CI runs as root
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).status == 200
        except OSError:
            return False

    try:
        _wait_for(lambda: up() or proc.poll() is not None, 120, "JupyterLab to start")
        assert proc.poll() is None, (ARTIFACTS / "jupyterlab.log").read_text()[-3000:]
        yield f"{base}/lab/tree/widgets.ipynb?token={token}"
    finally:
        try:  # shut kernels down cleanly, then the server by PID
            req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(req, timeout=10)
            proc.wait(20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    """A Chromium we start ourselves (so we own its PID), driven by playwright over CDP."""
    profile = tmp_path_factory.mktemp("chromium")
    proc = subprocess.Popen([CHROMIUM, *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        ws = None
        end = time.monotonic() + 60
        while ws is None and time.monotonic() < end and proc.poll() is None:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            ws = m.group(1) if m else None
        assert ws, f"Chromium did not start (exit code {proc.poll()})"
        with sync_api.sync_playwright() as p:
            browser = p.chromium.connect_over_cdp(ws)
            context = browser.contexts[0] if browser.contexts else browser.new_context()
            pg = context.new_page()
            pg.set_viewport_size({"width": 1500, "height": 1000})
            pg.goto(lab)
            try:
                yield pg
            finally:
                pg.screenshot(path=str(ARTIFACTS / "final.png"), full_page=True)
                (ARTIFACTS / "final.html").write_text(pg.content())
            browser.close()
    finally:
        _stop(proc)


def _image(cell, timeout: float = 30) -> str:
    img = cell.locator(".jp-OutputArea-output img").first
    try:
        img.wait_for(state="attached", timeout=timeout * MS)
    except sync_api.TimeoutError:
        text = cell.locator(".jp-OutputArea").first.inner_text()
        raise AssertionError(f"no image under the widget; its output area shows: {text[:300]!r}") from None
    return img.get_attribute("src") or ""


def _move(page, cell, kind: str, label: str) -> str:
    """Move one control as a user would; returns a description of the move."""
    if kind == "toggle":
        button = cell.locator("button.widget-toggle-button:not(.mod-active)").first
        text = button.inner_text()
        button.click()
        return f"clicked {text!r}"
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    if kind == "dropdown":
        control = cell.locator(".widget-dropdown", has=page.locator("label", has_text=exact))
        select = control.locator("select")
        before = select.input_value()
        values = select.locator("option").evaluate_all("os => os.map(o => o.value)")
        after = values[(values.index(before) + 1) % len(values)]
        # a native <select> pops up outside the page, so pick the option the way playwright models a user
        # doing it (focus, choose, input + change events); arrow keys would move JupyterLab's cell cursor
        select.select_option(after)
        assert select.input_value() == after != before, f"dropdown {label!r} did not change"
        return f"{label}: {before} -> {after} (select option)"
    control = cell.locator(".widget-slider", has=page.locator("label", has_text=exact))
    readout = control.locator(".widget-readout")
    before = readout.inner_text()
    track = control.locator(".noUi-target").bounding_box()
    handle = control.locator(".noUi-handle").bounding_box()
    hx, hy = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    to = track["x"] + track["width"] * (0.2 if hx > track["x"] + track["width"] / 2 else 0.8)
    page.mouse.move(hx, hy)
    page.mouse.down()
    page.mouse.move(to, hy, steps=8)
    page.mouse.up()
    _wait_for(lambda: readout.inner_text() != before, 10, f"slider {label!r} to move")
    return f"{label}: {before} -> {readout.inner_text()} (mouse drag)"


def _accept_dialog(page, timeout: float = 3.0) -> None:
    """Accept a dialog if one comes up (JupyterLab may ask which kernel to start)."""
    button = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        button.wait_for(timeout=timeout * MS)
    except sync_api.TimeoutError:
        return
    button.click()


def test_every_control_changes_the_image_in_jupyterlab(page):
    t0 = time.monotonic()
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120 * MS)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120 * MS)
    page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=120 * MS)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator("li[data-command='runmenu:run-all']").click()  # Run > Run All Cells
    _accept_dialog(page)
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    assert cells.count() == len(WIDGETS) + 1
    last_prompt = cells.last.locator(".jp-InputArea-prompt")
    _wait_for(lambda: re.search(r"\[\d+\]", last_prompt.inner_text()), 180, "Run All Cells to finish")
    shown_as_text = page.get_by_text(re.compile(r"<Figure size"))
    assert shown_as_text.count() == 0, f"a figure is shown as text: {shown_as_text.first.inner_text()!r}"
    images = [_image(cells.nth(i + 1)) for i in range(len(WIDGETS))]
    print(f"all {len(WIDGETS)} widgets drawn {time.monotonic() - t0:.0f} s after the page opened")
    assert all(src.startswith("data:image/png;base64,") for src in images), images
    page.screenshot(path=str(ARTIFACTS / "after-run-all.png"), full_page=True)

    weighting = cells.nth(1 + [w[0] for w in WIDGETS].index("WeightingWidget"))
    for button in weighting.locator("button.widget-toggle-button").all():
        full = button.evaluate("b => b.scrollWidth <= b.clientWidth")
        assert full, f"toggle-button label cut off: {button.inner_text()!r}"

    for i, (name, _, controls) in enumerate(WIDGETS):
        cell = cells.nth(i + 1)
        cell.scroll_into_view_if_needed()
        for kind, label in controls:
            before = _image(cell)
            what = _move(page, cell, kind, label)
            try:
                _wait_for(lambda c=cell, b=before: _image(c) != b, 30, f"{name}'s image to change")
            except TimeoutError:
                page.screenshot(path=str(ARTIFACTS / f"stuck-{name}.png"), full_page=True)
                raise AssertionError(f"{name}: {what}, but the image did not change") from None
            print(f"{name}: {what} -> new image")
    print(f"browser test body: {time.monotonic() - t0:.0f} s")
