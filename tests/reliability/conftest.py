"""Real service processes for fault tests: started with `python -m service`, killed for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from recommender.demo import generate_storefront, write_storefront
from service.store.embedded import free_port

WRITE, ADMIN = "write-key", "admin-key"
ROOT = Path(__file__).parents[2]


def call(base: str, method: str, path: str, body: object = None, key: str | None = None,
         timeout: float = 30) -> tuple[int, dict]:
    """One HTTP request with the standard library; returns (status, JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@dataclass
class ServiceProcess:
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = {**os.environ, **self.env, "RECS_PORT": str(self.port)}
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "service"], env=env, cwd=ROOT,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"service exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if call(self.base, "GET", "/readyz", timeout=2)[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"service not ready: {self.log_path.read_text()[-2000:]}")

    def stop(self, sig: int = 15, timeout: float = 60) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()


@pytest.fixture(scope="session")
def storefront(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = generate_storefront(n_users=600, n_products=200, n_content=20, seed=5, now=1_790_000_000.0)
    return write_storefront(data, tmp_path_factory.mktemp("store"))


@pytest.fixture
def service_env(tmp_path: Path, redis_url: str, storefront) -> dict[str, str]:
    events, catalog = storefront
    return {"REDIS_URL": redis_url, "RECS_DATA_DIR": str(tmp_path / "data"),
            "RECS_MODEL_DIR": str(tmp_path / "models"), "RECS_BOOTSTRAP_EVENTS": str(events),
            "RECS_BOOTSTRAP_CATALOG": str(catalog), "RECS_WRITE_KEYS": WRITE, "RECS_ADMIN_KEYS": ADMIN,
            "RECS_POLL_INTERVAL": "0.2", "RECS_ACTIVE_DAYS": "3650", "RECS_LOG_LEVEL": "INFO"}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    """Processes started by a test; all stopped at the end."""
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        service.stop(9)
