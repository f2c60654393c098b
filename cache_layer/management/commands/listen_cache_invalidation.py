import signal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from cache_layer.listener import Listener


class Command(BaseCommand):
    help = "LISTEN for the cache triggers' notifications (PostgreSQL) and invalidate what they name. Stops on SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=0.5, help="seconds one loop iteration waits")

    def handle(self, *args, timeout, **options):
        if connection.vendor != "postgresql":
            raise CommandError("The listener needs PostgreSQL (DATABASE_URL=postgres://...).")
        self.listener = Listener()

        def stop(signum, frame):
            self.listener.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Listening on channel {self.listener.channel!r}; SIGTERM stops.")
        self.listener.run(timeout)
        self.stdout.write("Listener stopped.")
