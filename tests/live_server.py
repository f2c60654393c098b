"""The API served for real (the Procfile's web command: production settings, two workers) against the
test database, for tests that drive it from outside: schemathesis and a client generated from the schema.

Not `make serve`: its collectstatic step costs a minute or two of CPU, and the API needs no static file.

The tests write committed rows (`transactional_db`), which the server's own connections see; the
server shares the test run's Redis key prefix, so the test run's cache clean-up covers it too.
"""

from __future__ import annotations

import secrets
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import REQUIRE_SERVICES, SERVICE_MISSING
from tests.test_serve import fetch, production_env, stop_process_group, unused_port

ROOT = Path(__file__).resolve().parent.parent
def test_database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def web_command(port: int) -> list[str]:
    """The Procfile's `web:` line, run from this virtualenv and bound to the loopback."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    program, *args = shlex.split(line.removeprefix("web:"))
    return [str(Path(sys.executable).with_name(program)), *args, "--bind", f"127.0.0.1:{port}"]


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    secret_key: str  # the server's SECRET_KEY: a session made in the test must be signed with it


@pytest.fixture(scope="module")
def live_api(django_db_setup, django_db_blocker, tmp_path_factory):
    """The web server on a port of its own, serving the test database; stopped afterwards."""
    # A module fixture runs before the function-level service check (conftest): check here first.
    for missing, reason in SERVICE_MISSING.values():
        if missing:
            if REQUIRE_SERVICES:
                pytest.fail(f"REQUIRE_SERVICES=1 but the live API {reason}")
            pytest.skip(f"the live API {reason}")
    with django_db_blocker.unblock():
        database_url = test_database_url()
    port = unused_port()
    secret_key = secrets.token_urlsafe(40)
    log_path = tmp_path_factory.mktemp("live_api") / "serve.log"
    log = open(log_path, "w+")  # closed below
    server = subprocess.Popen(
        web_command(port),
        cwd=ROOT,
        env=production_env(
            SECRET_KEY=secret_key,
            DJANGO_SETTINGS_MODULE="tests.live_settings",
            DATABASE_URL=database_url,
            WEB_CONCURRENCY="2",
            SECURE_SSL_REDIRECT="false",  # plain HTTP on the loopback, as behind a TLS proxy
            GUNICORN_ACCESS_LOG="",
            # The beacon's per-session limit (60 a minute) would answer most generated beacons 429.
            TELEMETRY_BEACONS_PER_MINUTE="100000",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                log.seek(0)
                pytest.fail(f"the server exited with {server.returncode}:\n{log.read()}")
            try:
                if fetch(f"{base}/health/")[0] in (200, 503):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the server did not answer /health/ in 90 s:\n{log.read()}")
            time.sleep(0.3)
        yield LiveServer(base, secret_key)
    finally:
        stop_process_group(server)
        log.close()
