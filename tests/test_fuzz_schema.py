"""schemathesis against a live gunicorn (DEBUG off): every operation of /api/schema/, as staff and
as a client's user, with a fixed seed and a bounded number of examples; no answer may be a 5xx.

The server runs on a database of its own (PostgreSQL: `<test database>_fuzz`, created and dropped
here; SQLite: a file), migrated and seeded through the project's own commands, so what the fuzzer
writes never meets the other tests' data. `FUZZ_EXAMPLES` (default 25) bounds the examples per
operation and actor. The live stream's cases are read boundedly (its 200 does not end).
"""

import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error

from tests.test_serve import ROOT, fetch, production_env, stop_process_group, unused_port, wait_until_healthy

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEED = 20261201


def fuzz_database_url(tmp_path) -> tuple[str, object]:
    """(DATABASE_URL for the server, a cleanup callable)."""
    from django.conf import settings as django_settings

    database = django_settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return f"sqlite:///{tmp_path / 'fuzz.sqlite3'}", lambda: None
    import psycopg

    name = f"{database['NAME']}_fuzz"
    host, port, user = database.get("HOST") or "127.0.0.1", database.get("PORT") or 5432, database.get("USER")

    def admin(statement: str) -> None:
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as connection:
            connection.execute(statement)

    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    return f"postgres://{user}@{host}:{port}/{name}", lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    """gunicorn (2 workers, DEBUG off) on a seeded database of its own; yields (base URL, tokens by actor)."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    database_url, drop_database = fuzz_database_url(tmp_path)
    env = production_env(
        DATABASE_URL=database_url,
        SECURE_SSL_REDIRECT="false",
        WEB_CONCURRENCY="2",
        DJANGO_SUPERUSER_PASSWORD="fuzz-staff-password",
    )
    try:
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "seed_demo", "--clients", "2", "--trackers", "40", "--history", "5", "-v0")
        manage(env, "createsuperuser", "--noinput", "--username", "fuzz-staff", "--email", "staff@fuzz.test")
        staff_token = re.search(r"Generated token (\w+)", manage(env, "drf_create_token", "fuzz-staff")).group(1)
        client_token = manage(env, "create_ingest_token", "--client", "1", "--username", "fuzz-client").strip()
        port = unused_port()
        log = open(tmp_path / "gunicorn.log", "w+")  # closed below
        server = subprocess.Popen(
            [
                f"{ROOT}/.venv/bin/gunicorn",
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",  # the application and worker class come from the config (ASGI), as in make serve
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(server, base, log, name="gunicorn", seconds=60)
            yield base, {"staff": staff_token, "client_user": client_token}
        finally:
            stop_process_group(server)
            log.seek(0)
            server_log = log.read()
            log.close()
            statuses = Counter(re.findall(r'" (\d{3}) ', server_log))
            print(f"\nfuzz: {sum(statuses.values())} requests answered, by status: {dict(sorted(statuses.items()))}")
            # A traceback in the server's log is a 500 the answers may have hidden: show it.
            assert "Traceback" not in server_log, server_log[-5000:]
    finally:
        drop_database()


def api_schema():
    """The schema the server publishes at /api/schema/, built in-process at collection (the test
    then asserts the live server publishes the same one)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = api_schema()
STREAM = "/api/trackers/stream/"
schema = schemathesis.openapi.from_dict(SCHEMA)
# The live stream's 200 does not end and schemathesis reads every answer whole: its cases are sent
# by `call_stream`, which reads a 200's first bytes only.
every_operation_but_the_stream = schema.exclude(path=STREAM)
the_stream = schema.include(path=STREAM)


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no example database: every run is the same run
    suppress_health_check=list(HealthCheck),
)


def call(case, fuzz_server, actor: str) -> None:
    base, tokens = fuzz_server
    case.call_and_validate(
        base_url=base, headers={"Authorization": f"Token {tokens[actor]}"}, checks=[not_a_server_error], timeout=30
    )


def call_stream(case, fuzz_server, actor: str) -> None:
    """The case sent as schemathesis would, with a bounded read: no 5xx, and a 200 starts the stream."""
    base, tokens = fuzz_server
    request = case.as_transport_kwargs(base_url=base, headers={"Authorization": f"Token {tokens[actor]}"})
    with requests.request(**request, stream=True, timeout=(5, 20)) as response:
        assert response.status_code < 500, (response.status_code, case.as_curl_command(), response.text)
        if response.status_code == 200:
            assert next(response.iter_content(chunk_size=None)).startswith(b"retry: ")


@every_operation_but_the_stream.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_no_operation_answers_a_server_error_to_staff(case, fuzz_server):
    call(case, fuzz_server, "staff")


@every_operation_but_the_stream.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_no_operation_answers_a_server_error_to_a_clients_user(case, fuzz_server):
    call(case, fuzz_server, "client_user")


@the_stream.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_the_stream_answers_no_server_error_to_staff(case, fuzz_server):
    call_stream(case, fuzz_server, "staff")


@the_stream.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_the_stream_answers_no_server_error_to_a_clients_user(case, fuzz_server):
    call_stream(case, fuzz_server, "client_user")


def test_the_server_publishes_the_schema_that_is_fuzzed(fuzz_server):
    base, tokens = fuzz_server
    status, _, body = fetch(f"{base}/api/schema/?format=json", Authorization=f"Token {tokens['staff']}")

    assert status == 200
    assert json.loads(body) == json.loads(json.dumps(SCHEMA))
    # Every operation is fuzzed: 19 by schemathesis' own calls, the stream by `call_stream`.
    assert len([op for path in SCHEMA["paths"].values() for op in path]) == 20
