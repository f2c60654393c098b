"""gunicorn settings for `make serve` and the Procfile: `gunicorn -c gunicorn.conf.py` (the app is named here).

Read by gunicorn's master before any worker imports Django or prometheus_client, so the
multi-process metrics directory is in the environment every worker inherits.
"""

import glob
import os
import shutil
import tempfile

# One ASGI application serves the API, the page and the live stream: uvicorn workers run each
# request's sync code (views, middleware) in a thread of its own and every open stream as a task
# of the worker's event loop, with no thread of its own. SERVER_INTERFACE=wsgi is the rollback:
# sync workers, no live stream (it answers 503).
interface = os.environ.get("SERVER_INTERFACE", "asgi")
if interface not in ("asgi", "wsgi"):
    raise RuntimeError(f"SERVER_INTERFACE must be asgi or wsgi, not {interface!r}")
wsgi_app = f"trackerdash.{interface}:application"
worker_class = "trackerdash.serving.Worker" if interface == "asgi" else "sync"
if interface == "asgi":
    os.environ.setdefault("DB_POOL", "true")  # settings.py: no leaked connection per request thread

# Workers: WEB_CONCURRENCY, else gunicorn's rule of thumb (2 × CPUs + 1) over the CPUs this process may use.
_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cpus + 1)
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a worker silent this long is killed and replaced
graceful_timeout = 30  # on SIGTERM, seconds to finish requests in flight
keepalive = 5  # behind a proxy that keeps connections open
max_requests = 2000  # recycle workers now and then (leaks), staggered
max_requests_jitter = 200
# gunicorn's control socket sits at one path per user ($HOME/.gunicorn/gunicorn.ctl): two servers
# on one machine (blue/green, tests) would fight over it. Nothing here uses it.
control_socket_disable = True
# Workers' heartbeat files in memory: on a container's overlay /tmp, a slow fsync gets workers killed.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
if os.environ.get("LOG_FORMAT") == "json":
    logconfig_dict = {
        "formatters": {"json": {"()": "trackerdash.log_format.JsonFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
            "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        },
    }

# Prometheus multi-process mode: without a directory of its own, this server gets a private one.
# (Marked in the environment, so a configuration reload on SIGHUP still knows to remove it at exit.)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="trackerdash-prometheus-")
    os.environ["TRACKERDASH_PRIVATE_METRICS_DIR"] = "1"
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    """Drop the files of processes that are gone (a previous run); keep a live listener's, and
    maintain_history's (named, not numbered: its last run's figures stay until the next)."""
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        pid = os.path.basename(path).rsplit("_", 1)[-1].removesuffix(".db")
        if pid == "maintainhistory":  # dashboard.metrics.HISTORY_METRICS_PROCESS
            continue
        if not pid.isdigit() or not _alive(int(pid)):
            os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if os.environ.get("TRACKERDASH_PRIVATE_METRICS_DIR") == "1":
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
