"""A Server-Sent Events client for tests (and the live load script): one HTTP connection read in a
thread, events parsed as the EventSource spec does, collected in a queue with their arrival time."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.test_serve import unused_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Event:
    name: str
    data: str
    id: str | None
    received: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> dict:
        return json.loads(self.data)


class SSEClient:
    """`SSEClient(base, "/api/trackers/stream/?status=x", token=...)`: connects at once; `next_event()`
    waits for the next event (heartbeat comments and id-only blocks only move `last_id`)."""

    def __init__(self, base: str, path: str, *, token: str | None = None, session: str | None = None,
                 last_event_id: str | None = None, timeout: float = 30) -> None:
        url = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        headers = {"Accept": "text/event-stream", "Accept-Encoding": "gzip, br"}
        if token:
            headers["Authorization"] = f"Token {token}"
        if session:
            headers["Cookie"] = f"sessionid={session}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.last_id: str | None = None
        self.retry: int | None = None
        self.comments = 0
        self.closed = threading.Event()
        if self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = self.response.read()
            self.closed.set()

    def _read(self) -> None:
        name, data, event_id = "message", [], None
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if not line:
                    if event_id is not None:
                        self.last_id = event_id
                    if data:
                        self.events.put(Event(name, "\n".join(data), self.last_id))
                    name, data, event_id = "message", [], None
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "event":
                        name = value
                    elif key == "data":
                        data.append(value)
                    elif key == "id":
                        event_id = value
                    elif key == "retry" and value.isdigit():
                        self.retry = int(value)
        except (OSError, ValueError, AttributeError, http.client.HTTPException):  # closed under the reader
            pass
        finally:
            self.closed.set()
            self.events.put(None)

    def next_event(self, timeout: float = 5) -> Event | None:
        """The next event within `timeout` seconds; None when none came (or the stream ended)."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait_for(self, predicate, timeout: float = 5) -> Event | None:
        """The first event within `timeout` seconds for which `predicate(event)` holds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            item = self.next_event(left)
            if item is None and self.closed.is_set():
                return None
            if item is not None and predicate(item):
                return item
        return None

    def drain(self, seconds: float) -> list[Event]:
        """Every event that arrives within `seconds`."""
        found, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            item = self.next_event(left)
            if item is not None:
                found.append(item)
            elif self.closed.is_set():
                break
        return found

    def close(self) -> None:
        try:
            self.connection.sock and self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()


def post_json(url: str, body, *, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Server:
    """`uvicorn trackerdash.asgi:application` (or another command) as a real process of its own group."""

    def __init__(self, env: dict[str, str], *, command: list[str] | None = None, log: Path | None = None) -> None:
        self.port = unused_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = command or [
            sys.executable, "-m", "uvicorn", "trackerdash.asgi:application", "--port", str(self.port),
            "--lifespan", "off", "--log-level", "warning", "--timeout-graceful-shutdown", "2",
        ]
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.env = env
        self.log_path = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Server:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base}/health/", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.command} did not answer within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
