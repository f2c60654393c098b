"""`manage.py maintain_history`: one run of location-history maintenance (partitions ahead, retention).

Loop-free: cron, a systemd timer or a Procfile scheduler runs it (hourly is safe); each run
does all that is due, and a second run finds nothing to do.
"""

import logging
import time

from django.core.management.base import BaseCommand

from dashboard import services
from dashboard.metrics import HistoryMetrics

logger = logging.getLogger("dashboard.maintain_history")


def maintain_once(*, now=None, metrics: HistoryMetrics | None = None) -> services.HistoryMaintenance | None:
    """The command's one iteration: maintain, log what changed, record the metrics."""
    result = services.location_history_maintain(now=now)
    if result is None:
        logger.warning("maintain_history: another run holds the lock; nothing done")
        return None
    for name in result.created:
        logger.info("maintain_history: created partition %s", name)
    for name in result.dropped:
        logger.info("maintain_history: dropped partition %s", name)
    if result.deleted:
        logger.info("maintain_history: deleted %d rows older than the retention window", result.deleted)
    logger.info(
        "maintain_history: %d monthly partitions, oldest report kept %s",
        result.partitions,
        result.oldest.isoformat() if result.oldest else "none",
    )
    (metrics or HistoryMetrics()).record(result, now=time.time())
    return result


class Command(BaseCommand):
    help = "Create the coming months' history partitions and drop those past HISTORY_RETENTION_DAYS."

    def handle(self, *args, **options):
        maintain_once()
