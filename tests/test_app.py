"""The web app: the Predict and Benchmarks pages under Streamlit's AppTest, and the real server in headless
Chromium (skipped when no Chromium binary is present)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import TONE_EMOTIONS as EMOTIONS
from tests.helpers import write_tone

pytest.importorskip("streamlit")

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "benchmark" / "apps" / "streamlit_app.py"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if shutil.which(n)), None)


@pytest.fixture(scope="module")
def app_files(tmp_path_factory, tiny_bundle) -> dict[str, Path]:
    """A bundle, a folder with an example clip, and a folder with two finished (minimal) run folders."""
    root = tmp_path_factory.mktemp("app")
    bundle_path = tiny_bundle[1]  # the session's tiny SVM with its speaker-CV estimate; the tests only read it
    examples = root / "examples"
    write_tone(examples / "tone.wav", seconds=1.0, freq=520)
    write_tone(examples / "long.wav", seconds=9.5, freq=180, sr=22050)
    runs = root / "results"
    for k, (name, uar) in enumerate([("toy-20260101-000000", 0.55), ("toy-20260102-000000", 0.62)]):
        run_dir = runs / name
        (run_dir / "plots").mkdir(parents=True)
        (run_dir / "run.json").write_text(json.dumps({"dataset": "toy", "command": "run_benchmark.py run",
                                                      "finished": f"2026-01-0{k + 1}T00:00:00",
                                                      "corpus": {"summary_line": "corpus toy: 36 utterances"}}))
        (run_dir / "leaderboard.json").write_text(json.dumps([
            {"dataset": "toy", "table": "leaderboard", "features": "all", "model": "svm", "protocol": "speaker",
             "speaker_norm": False, "uar_mean": uar, "uar_std": 0.04, "n_folds": 4}]))
        (run_dir / "leaderboard.md").write_text(f"# Leaderboard: toy\n\n| model | SI UAR |\n|---|---|\n| svm | "
                                                f"{100 * uar:.1f} |\n")
        (run_dir / "audit.json").write_text(json.dumps({"warnings": ["only 4 speakers"], "corpus": {}}))
        (run_dir / "claims.csv").write_text("claim,verdict\nsvm beats chance,yes\n")
        _write_png(run_dir / "plots" / "uar.png")
        os.utime(run_dir / "run.json", (1_700_000_000 + k, 1_700_000_000 + k))
    os.utime(runs / "toy-20260101-000000", (1_700_000_000, 1_700_000_000))
    os.utime(runs / "toy-20260102-000000", (1_700_000_100, 1_700_000_100))
    return {"bundle": bundle_path, "examples": examples, "runs": runs}


def _write_png(path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [0, 1])
    fig.savefig(path)


@pytest.fixture
def app_env(app_files, monkeypatch):
    monkeypatch.setenv("SER_UI_BUNDLE", str(app_files["bundle"]))
    monkeypatch.setenv("SER_UI_EXAMPLES", str(app_files["examples"]))
    monkeypatch.setenv("SER_UI_RUNS", str(app_files["runs"]))
    return app_files


def _app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=180)


def test_predict_page_shows_the_emotions_for_a_generated_clip(app_env):
    at = _app()
    at.query_params["example"] = "tone.wav"
    at.run()
    assert not at.exception
    predicted = [m.value for m in at.subheader if m.value.startswith("Predicted emotion:")]
    assert len(predicted) == 1
    emotion = predicted[0].split()[2]
    assert emotion in EMOTIONS
    table = at.dataframe[0].value
    assert sorted(table["emotion"]) == sorted(EMOTIONS)
    assert table["probability %"].sum() == pytest.approx(100, abs=0.5)
    assert table.loc[table["probability %"].idxmax(), "emotion"] == emotion
    metric = at.metric[0]
    assert metric.label == "expected UAR on unseen speakers" and "[" in metric.value


def test_predict_page_shows_a_long_file_as_a_timeline(app_env):
    at = _app()
    at.query_params["example"] = "long.wav"
    at.run()
    assert not at.exception
    assert at.toggle(key="timeline").value is True  # 9.5 s: a timeline by default
    assert any(s.value.startswith("Timeline:") for s in at.subheader)
    timeline = at.dataframe[0].value
    assert timeline["start"].iloc[0] == 0 and timeline["end"].iloc[-1] == pytest.approx(9.5, abs=1e-3)
    assert timeline["emotion"].isin(EMOTIONS).all()


def test_predict_page_without_a_bundle_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("SER_UI_BUNDLE", raising=False)
    at = _app()
    at.run()
    assert not at.exception
    assert any("No model loaded" in i.value for i in at.info)


def test_predict_page_refuses_a_tampered_bundle(app_env, tmp_path, monkeypatch):
    data = bytearray(app_env["bundle"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("SER_UI_BUNDLE", str(bad))
    at = _app()
    at.run()
    assert not at.exception
    assert any("cannot be used" in e.value and "refused" in e.value for e in at.error)


def test_benchmarks_page_browses_and_compares_runs(app_env):
    at = _app()
    at.run()
    at.sidebar.radio(key="page").set_value("Benchmarks").run()
    assert not at.exception
    assert at.selectbox(key="run").value == "toy-20260102-000000"  # newest first
    assert any("Leaderboard: toy" in m.value for m in at.markdown)
    assert any("only 4 speakers" in w.value for w in at.warning)
    assert len(at.get("image")) == 1
    claims = [d.value for d in at.dataframe if "claim" in d.value.columns]
    assert claims and claims[0]["verdict"].tolist() == ["yes"]
    compare = [d.value for d in at.dataframe if "UAR %" in d.value.columns][0]
    assert compare["run"].tolist() == ["toy-20260102-000000", "toy-20260101-000000"]
    assert compare["UAR %"].tolist() == [62.0, 55.0]


def test_ui_helpers_on_run_folders(app_files, tmp_path):
    from matplotlib.colors import to_rgb

    from benchmark.apps import ui

    runs = ui.list_runs(app_files["runs"])
    assert [r.name for r in runs] == ["toy-20260102-000000", "toy-20260101-000000"]
    assert ui.list_runs(tmp_path / "none") == []
    assert ui.claims_table(tmp_path) is None
    assert ui.compare_runs(runs, "stratified").empty
    frame = pd.DataFrame({"start": [0.0, 1.0], "end": [1.0, 2.0], "emotion": ["sad", "angry"],
                          "p_angry": [0.2, 0.7], "p_sad": [0.8, 0.3]})
    area, strip = ui.timeline_figure(frame, ["angry", "sad"]).axes
    assert [t.get_text() for t in area.get_legend().get_texts()] == ["angry", "sad"]
    # the stack tops out at 1 (the probabilities of each window add up) and the strip paints each window in the
    # colour of its predicted emotion, in order
    assert np.isclose(area.collections[-1].get_paths()[0].vertices[:, 1].max(), 1.0)
    spans = [tuple(np.round(p.get_facecolor()[:3], 6)) for p in strip.patches]
    assert spans == [tuple(np.round(to_rgb(ui.colour(e, ["angry", "sad"].index(e))), 6)) for e in ("sad", "angry")]
    assert strip.get_xlim() == (0.0, 2.0)
    y = np.sin(np.linspace(0, 100, 8000)).astype(np.float32)
    fig = ui.audio_figure(y, 16000)
    assert len(fig.axes) == 3  # waveform, spectrogram, colour bar


# ---------------------------------------------------------------------------------------------------------------
# The real server in a real (headless) browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# what a person reads: the rendered text, plus the metric cards (their text sits outside innerText)
PAGE_TEXT = ("document.body ? document.body.innerText + '\\n' + Array.from(document.querySelectorAll("
             "'[data-testid=\"stMetric\"]')).map(e => e.textContent).join('\\n') : ''")


async def _browse(debug_port: int, url: str, wanted: tuple[str, ...], timeout: float) -> tuple[str, bytes]:
    """Open ``url`` in the browser over the DevTools protocol, wait until the page text holds every string of
    ``wanted`` (the script renders top to bottom), return the text and a PNG screenshot."""
    from tornado.websocket import websocket_connect

    targets = json.loads(_wait_http(f"http://127.0.0.1:{debug_port}/json/list", 30))
    page = next(t for t in targets if t["type"] == "page")
    conn = await websocket_connect(page["webSocketDebuggerUrl"], max_message_size=64 * 2**20)
    counter = 0

    async def call(method: str, **params):
        nonlocal counter
        counter += 1
        await conn.write_message(json.dumps({"id": counter, "method": method, "params": params}))
        while True:
            reply = json.loads(await conn.read_message())
            if reply.get("id") == counter:
                return reply.get("result", {})

    await call("Page.enable")
    await call("Page.navigate", url=url)
    text = ""
    deadline = time.monotonic() + timeout
    while not all(w in text for w in wanted) and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        result = await call("Runtime.evaluate", expression=PAGE_TEXT, returnByValue=True)
        text = result.get("result", {}).get("value", "") or ""
    await asyncio.sleep(1.0)  # let the charts paint
    shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    conn.close()
    return text, base64.b64decode(shot["data"])


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium)")
def test_real_server_in_headless_chromium_shows_a_prediction(app_files, tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "run_benchmark.py"), "ui", "--bundle", str(app_files["bundle"]),
         "--examples", str(app_files["examples"]), "--runs", str(app_files["runs"]), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    profile = tempfile.mkdtemp(prefix="ser-chromium-")
    browser = None
    try:
        assert _wait_http(f"http://localhost:{port}/_stcore/health", 120) == "ok"
        browser = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1400,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        active = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.is_file() and active.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        debug_port = int(active.read_text().split()[0])
        text, png = asyncio.run(_browse(debug_port, f"http://localhost:{port}/?example=tone.wav",
                                        ("Predicted emotion:", "What this model is worth", "% ["), 180))
        shot = Path(os.environ.get("SER_UI_SCREENSHOT", tmp_path / "predict.png"))
        shot.write_bytes(png)
        assert "Predicted emotion:" in text, text[-2000:]
        predicted = text.split("Predicted emotion:")[1].split()[0]
        assert predicted in EMOTIONS
        assert "What this model is worth" in text
        metric = text.split("expected UAR on unseen speakers")[-1]
        assert "% [" in metric, text[-500:]
        assert png.startswith(b"\x89PNG") and len(png) > 20_000
    finally:
        for process in (browser, server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(profile, ignore_errors=True)
