"""The Prometheus alert rules are valid, and promtool's unit tests show each alert firing and staying quiet."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REQUIRE_SERVICES

RULES_DIR = Path(__file__).resolve().parent.parent / "ops" / "prometheus"
PROMTOOL = shutil.which("promtool")


@pytest.fixture
def promtool():
    if PROMTOOL is None:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but promtool is missing (apt-get install prometheus)")
        pytest.skip("needs promtool (Debian package prometheus)")
    return PROMTOOL


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=RULES_DIR, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_rules_file(promtool):
    result = run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_each_alert_fires_on_trouble_and_stays_quiet_when_healthy(promtool):
    result = run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())["tests"]
    fired, quiet = set(), set()
    for case in tests:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in rules}
    assert alerts == {
        "DashboardLoadSlow",
        "DatabaseQueriesSlow",
        "ReferenceCacheHitRateLow",
        "CacheInvalidationFailing",
        "CacheListenerStale",
        "RedisMemoryNearLimit",
        "CacheEvictionsHurtHitRate",
        "WorkerMemoryHigh",
        "LiveStreamLagHigh",
    }
    assert fired == alerts
    assert quiet == alerts


def test_the_rules_use_only_metrics_the_site_exposes():
    from tests.test_metrics import EXPOSED_METRIC_NAMES

    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"][0]["rules"]
    expressions = " ".join(rule["expr"] for rule in rules)
    # Metric names end in a unit (seconds, bytes) or _total; a histogram is queried through its _bucket series.
    names = re.findall(r"\b[a-z_]+_(?:total|bucket|seconds|bytes)\b", expressions)
    used = {name.removesuffix("_bucket") for name in names}
    assert used
    assert used <= EXPOSED_METRIC_NAMES, used - EXPOSED_METRIC_NAMES
