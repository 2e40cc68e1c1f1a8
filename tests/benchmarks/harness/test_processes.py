"""Children with a log, stopped in order; HTTP polling; worker processes that return JSON."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from benchmarks.harness.processes import BenchError, http, run_worker_process, start, wait_http
from service.store.embedded import free_port


def test_a_child_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    child = start("failing", [sys.executable, "-c", "print('first'); print('boom'); raise SystemExit(3)"],
                  tmp_path / "failing.log")
    child.process.wait(30)
    with pytest.raises(BenchError, match=r"failing exited with 3[\s\S]*boom"):
        child.check_alive()


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
           "time.sleep(60)"
    log = tmp_path / "stubborn.log"
    child = start("stubborn", [sys.executable, "-c", code], log)
    while "ready" not in log.read_text():
        child.check_alive()
        time.sleep(0.02)
    child.stop(timeout=0.5)
    assert child.process.returncode == -signal.SIGKILL


def test_wait_http_returns_once_the_server_answers(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "index.html").write_text("hello")
    child = start("http.server", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                  tmp_path / "server.log", cwd=tmp_path)
    try:
        wait_http(child, f"http://127.0.0.1:{port}/", 30, "http.server")
        assert http("GET", f"http://127.0.0.1:{port}/index.html") == (200, b"hello")
        status, _ = http("GET", f"http://127.0.0.1:{port}/missing")
        assert status == 404
    finally:
        child.stop()
    assert child.process.returncode is not None


def test_wait_http_gives_up_when_the_child_dies(tmp_path: Path) -> None:
    child = start("quitter", [sys.executable, "-c", "pass"], tmp_path / "quitter.log")
    with pytest.raises(BenchError, match="quitter exited with 0"):
        wait_http(child, f"http://127.0.0.1:{free_port()}/", 30, "quitter")


def test_run_worker_process_returns_what_the_worker_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "echo_worker.py").write_text(
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "path = args[args.index('--result') + 1]\n"
        "open(path, 'w').write(json.dumps({'args': args[:args.index('--result')]}))\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert run_worker_process("echo_worker", ["--size", "3"], tmp_path / "out.json") == {"args": ["--size", "3"]}
