"""A private redis-server for tests that break Redis (stop, pause, flush): never the shared one."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import redis

from tests.test_serve import unused_port

# Configured as the README's Operations asks of a production Redis (a bound, an eviction policy).
BOUNDED = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")


class PrivateRedis:
    def __init__(self, *args: str) -> None:
        self.args = args or BOUNDED
        self.port = unused_port()
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + list(self.args),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def stop(self) -> None:
        """Kill it: connections are refused from now on (and its data is gone)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: connections hang (timeouts), the data stays for when it resumes."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def cache_settings(self, socket_timeout: float = 0.25) -> dict:
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": self.url,
            "KEY_PREFIX": "private",
            "TIMEOUT": None,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": socket_timeout,
                "SOCKET_TIMEOUT": socket_timeout,
                "CONNECTION_POOL_KWARGS": {"retry_on_timeout": False},
            },
        }
