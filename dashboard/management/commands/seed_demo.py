import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

import cache_layer
from dashboard.seeding import database_has_data, demo_seed, reset_demo_data


class Command(BaseCommand):
    help = "Fill the database with a realistic demo fleet (clients, brands, runs, trackers, history)."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=3)
        parser.add_argument("--trackers", type=int, default=1500)
        parser.add_argument("--history", type=int, default=200, help="reports per tracker that has reported")
        parser.add_argument("--seed", type=int, default=42, help="random seed: the same seed gives the same data")
        parser.add_argument("--reset", action="store_true", help="delete existing domain data and demo users first")
        parser.add_argument(
            "--if-empty", action="store_true", help="seed only when the database holds no data (make run)"
        )

    def handle(self, *args, clients, trackers, history, seed, reset, if_empty, **options):
        if clients < 1 or trackers < 0 or history < 0:
            raise CommandError("--clients must be at least 1; --trackers and --history at least 0.")
        if database_has_data() and not reset:
            if if_empty:
                self.stdout.write("The database already has data; nothing seeded.")
                return
            raise CommandError("The database already has data; nothing changed. Use --reset to replace it.")
        started = time.perf_counter()
        if reset:
            reset_demo_data()
        with tqdm(
            total=trackers, unit="tracker", desc="seeding", disable=options["verbosity"] < 1, file=self.stderr._out
        ) as bar:
            result = demo_seed(clients=clients, trackers=trackers, history=history, seed=seed, progress=bar.update)
        cache_layer.invalidate_all(reload=False)  # COPY and bulk paths: every cached table is stale
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.clients} clients, {result.brands} brands, {result.production_runs} production runs, "
                f"{result.trackers} trackers and {result.history} location reports in {elapsed:.1f} s."
            )
        )
        self.stdout.write("Demo logins (username / password — scope):")
        for username, password, scope in result.logins:
            self.stdout.write(f"  {username} / {password} — {scope}")
