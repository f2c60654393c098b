"""The load test's memory report: each worker's RSS from /proc, and its bounds on growth."""

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_PY = ROOT / "bench" / "loadtest" / "run.py"
MB = 2**20


@pytest.fixture(scope="module")
def loadtest():
    spec = importlib.util.spec_from_file_location("loadtest_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bounds(worker_mb: float = 100, redis_mb: float = 50) -> argparse.Namespace:
    return argparse.Namespace(max_worker_growth_mb=worker_mb, max_redis_growth_mb=redis_mb)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_it_reads_the_resident_memory_of_each_child_of_the_master(loadtest):
    code = (
        "import subprocess, sys, time; "
        "children = [subprocess.Popen([sys.executable, '-c', 'import time; b = bytearray(%d); time.sleep(30)' % n])"
        f" for n in (0, {80 * MB})]; "
        "print(' '.join(str(c.pid) for c in children), flush=True); time.sleep(30)"
    )
    master = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    small = large = None
    try:
        small, large = map(int, master.stdout.readline().split())
        for _ in range(100):  # until the child has touched its 80 MB
            memory = loadtest.worker_memory(master.pid)
            if memory.get(large, 0) - memory.get(small, 0) > 70 * MB:
                break
            time.sleep(0.05)
        assert set(memory) == {small, large}
        assert memory[large] - memory[small] > 70 * MB
    finally:
        for pid in (small, large):
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        master.kill()
        master.wait(5)


def test_a_worker_that_grows_past_its_bound_fails_the_run(loadtest):
    start = {"workers": {11: 100 * MB, 12: 100 * MB}, "redis": 10 * MB}
    end = {"workers": {11: 150 * MB, 12: 230 * MB}, "redis": 20 * MB}

    memory = loadtest.memory_checks(start, end, bounds(worker_mb=100))

    assert memory["problems"] == ["a worker grew 130 MB (bound 100 MB)"]
    assert memory["workers"] == [
        {"pid": 11, "start": 100 * MB, "end": 150 * MB},
        {"pid": 12, "start": 100 * MB, "end": 230 * MB},
    ]


def test_redis_growing_past_its_bound_fails_the_run(loadtest):
    start = {"workers": {11: 100 * MB}, "redis": 10 * MB}
    end = {"workers": {11: 110 * MB}, "redis": 70 * MB}

    assert loadtest.memory_checks(start, end, bounds(redis_mb=50))["problems"] == [
        "Redis used_memory grew 60 MB (bound 50 MB)"
    ]
    assert loadtest.memory_checks(start, end, bounds(redis_mb=80))["problems"] == []


def test_a_worker_recycled_during_the_run_is_listed_not_checked(loadtest):
    start = {"workers": {11: 100 * MB}, "redis": None}  # and the local-memory cache: no Redis figure
    end = {"workers": {13: 400 * MB}, "redis": None}

    memory = loadtest.memory_checks(start, end, bounds(worker_mb=10))

    assert memory["problems"] == []
    assert memory["exited_workers"] == [11]
    assert memory["workers"] == [{"pid": 13, "start": None, "end": 400 * MB}]
    assert "worker 13: RSS n/a → 400.0 MB" in "\n".join(loadtest.format_memory(memory))
