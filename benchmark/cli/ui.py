"""``ui``: the web app (Streamlit): predict on an upload or a recording, browse and compare finished runs."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from .common import UsageError

INSTALL_HINT = 'ui needs Streamlit: pip install "ser-benchmark[ui]" (in a clone: pip install ".[ui]")'


def add_parser(sub) -> None:
    p = sub.add_parser("ui", help="start the web app (needs the ui extra)",
                       description="Start the Streamlit app on this machine: Predict (upload or record, see the "
                       "waveform, spectrogram, probabilities and the model's honest score) and Benchmarks "
                       "(browse and compare finished runs).")
    p.add_argument("--bundle", help="the bundle to predict with (the page also takes an uploaded one)")
    p.add_argument("--runs", default="results", help="folder of run folders for the Benchmarks page")
    p.add_argument("--examples", metavar="DIR", help="a folder of audio files offered as examples")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="localhost", help="address to listen on (default: localhost only)")


def app_path() -> Path:
    return Path(__file__).resolve().parents[1] / "apps" / "streamlit_app.py"


def app_environment(bundle: str | None, runs: str | None, examples: str | None) -> dict[str, str]:
    """What the app reads at start: the same names in the environment, so ``streamlit run`` works alone too."""
    env = {}
    if bundle:
        env["SER_UI_BUNDLE"] = str(Path(bundle).resolve())
    if runs:
        env["SER_UI_RUNS"] = str(Path(runs).resolve())
    if examples:
        env["SER_UI_EXAMPLES"] = str(Path(examples).resolve())
    return env


def streamlit_command(port: int, host: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(app_path()), "--server.headless=true",
            f"--server.port={port}", f"--server.address={host}", "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none", "--global.developmentMode=false"]


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("streamlit") is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    if args.bundle:
        from benchmark.apps.bundle import read_checked

        if not Path(args.bundle).is_file():
            raise UsageError(f"--bundle {args.bundle}: file not found")
        read_checked(Path(args.bundle))  # integrity and versions, before the server starts
    if args.examples and not Path(args.examples).is_dir():
        raise UsageError(f"--examples {args.examples}: folder not found")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: must be between 1 and 65535")
    env = {**os.environ, **app_environment(args.bundle, args.runs, args.examples)}
    print(f"web app on http://{args.host}:{args.port} (Ctrl-C stops it)", file=sys.stderr)
    return serve(streamlit_command(args.port, args.host), env)


ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


def serve(command: list[str], env: dict[str, str]) -> int:
    """Run the server as a child that ends with this process, whatever ends it.

    A signal that ends the command (SIGTERM from a supervisor, SIGHUP from a closed terminal, Ctrl-C) is
    passed on to the server, which is waited for; on Linux the server also gets SIGTERM from the kernel if
    this process dies without a chance to act (SIGKILL), so it never outlives the command holding the port.
    """
    server = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    previous = {}

    def stop(signum, frame):
        raise _Ended(signum)

    for signum in ENDING_SIGNALS:
        previous[signum] = signal.signal(signum, stop)
    try:
        return server.wait()
    except (KeyboardInterrupt, _Ended) as ended:
        _terminate(server)
        return 0 if isinstance(ended, KeyboardInterrupt) else 128 + ended.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if server.poll() is None:  # any other way out of here (an error of ours)
            _terminate(server)


class _Ended(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(server: subprocess.Popen, grace: float = 10.0) -> None:
    server.terminate()
    try:
        server.wait(grace)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
