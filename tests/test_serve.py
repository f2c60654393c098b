"""Production serving: `make serve` (gunicorn, DEBUG off) answers /health/ and /metrics; `check --deploy` passes."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides) -> dict[str, str]:
    env = dict(os.environ)  # DATABASE_URL, REDIS_URL and the test run's cache key prefix
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests; never in production
    env.update(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(40), ALLOWED_HOSTS="127.0.0.1,dash.example.com")
    env.update(overrides)
    return env


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, **headers: str) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=5) as response:
            return response.status, response.headers, response.read()  # case-insensitive (uvicorn sends lower case)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to make and gunicorn; wait until gunicorn's graceful shutdown (its on_exit cleanup) is over."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def wait_until_healthy(server: subprocess.Popen, base: str, log, *, name: str, seconds: float) -> None:
    """Until `base`/health/ answers 200; fails the test with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            log.seek(0)
            pytest.fail(f"{name} exited with {server.returncode}:\n{log.read()}")
        try:
            if fetch(f"{base}/health/")[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{name} did not answer /health/ in {seconds:.0f} s")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`make serve` on a free port with two workers, stopped (SIGTERM to its process group) afterwards."""
    port = unused_port()
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "w+")  # closed below
    server = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"PORT={port}"],
        cwd=ROOT,
        env=production_env(WEB_CONCURRENCY="2"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # A deadline, not a speed target: `make serve` first runs `check --deploy` and collectstatic
        # (WhiteNoise compresses every static file, the vendored map data included), which took
        # minutes on this 2-core machine while other suites ran beside it.
        wait_until_healthy(server, base, log, name="make serve", seconds=300)
        yield base
    finally:
        stop_process_group(server)
        log.close()


def health_requests_counted(base: str) -> float:
    status, _, body = fetch(f"{base}/metrics")
    assert status == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "http_request_duration_seconds_count" and sample.labels["route"] == "health":
                return sample.value
    return 0.0


def test_make_serve_answers_health_and_metrics_count_every_worker(served):
    before = health_requests_counted(served)
    for _ in range(6):
        status, _, body = fetch(f"{served}/health/")
        assert status == 200
    assert json.loads(body)["database"] == {"status": "ok"}

    # Whichever of the two workers served each request and the scrape: the multi-process sum.
    assert health_requests_counted(served) - before == 6


def test_make_serve_runs_with_debug_off_and_whitenoise_static_files(served):
    status, headers, _ = fetch(f"{served}/admin/login/")
    assert status == 301  # SECURE_SSL_REDIRECT: production settings are on
    assert headers["Location"].startswith("https://")

    status, headers, body = fetch(f"{served}/static/admin/css/base.css", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert body  # collected and served by whitenoise, DEBUG off
    assert "max-age" in headers.get("Cache-Control", "")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]

    result = manage("check", "--deploy", **env)

    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr
