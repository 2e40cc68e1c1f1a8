"""A password in REDIS_URL is used: the service works against a Redis that requires one."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from service.store.embedded import free_port
from tests.reliability.conftest import WRITE, ServiceProcess, call


@pytest.fixture
def locked_redis(tmp_path):
    port = free_port()
    process = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                "--requirepass", "s3cret-pass", "--save", "", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL)
    yield port
    process.terminate()
    process.wait(10)


def test_password_from_redis_url_is_used_and_never_logged(service_env, services, tmp_path, locked_redis):
    url = f"redis://:s3cret-pass@127.0.0.1:{locked_redis}/0"
    service = ServiceProcess({**service_env, "REDIS_URL": url}, tmp_path / "svc.log").start()
    services.append(service)
    service.wait_ready()
    assert call(service.base, "POST", "/v1/events", [{"user_id": "u", "item_id": "p", "type": "view"}],
                key=WRITE)[0] == 202
    assert "s3cret-pass" not in (tmp_path / "svc.log").read_text()


def test_wrong_password_fails_start_with_a_message(service_env, tmp_path, locked_redis):
    url = f"redis://:wrong@127.0.0.1:{locked_redis}/0"
    service = ServiceProcess({**service_env, "REDIS_URL": url}, tmp_path / "svc.log").start()
    assert service.process.wait(60) == 2
    log = (tmp_path / "svc.log").read_text()
    assert "error: cannot use Redis (REDIS_URL): AuthenticationError" in log
    assert "Traceback" not in log and ":wrong@" not in log
