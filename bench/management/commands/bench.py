from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bench.cases import CASE_NAMES
from bench.profiles import PROFILES, prepare_profile_database, use_database
from bench.report import describe, format_table
from bench.run import environment_warnings, run_bench


class Command(BaseCommand):
    help = (
        "Measure the dashboard's requests against the N+1 baseline and the one-statement floor, "
        "on a profile seeded into its own database (never the configured one)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profile", choices=sorted(PROFILES), default="realistic")
        parser.add_argument("--repeat", type=int, default=20, help="timed repeats of each case (median and p95)")
        parser.add_argument(
            "--baseline-repeat", type=int, default=5, help="at most this many repeats of the slow N+1 baseline"
        )
        parser.add_argument("--reseed", action="store_true", help="rebuild the profile's database first")
        parser.add_argument("--json", dest="json_path", help="also write the results as JSON to this file")
        parser.add_argument(
            "--http",
            dest="http_url",
            help="measure a running server at this URL (started on the profile's database, same SECRET_KEY)",
        )
        parser.add_argument(
            "--cprofile",
            action="append",
            default=[],
            metavar="CASE",
            help="also profile this case (e.g. api_all_uncached) and print where the time goes; repeatable",
        )
        parser.add_argument("--prepare-only", action="store_true", help="create and seed the database, measure nothing")

    def handle(
        self, *args, profile, repeat, baseline_repeat, reseed, json_path, http_url, cprofile, prepare_only, **options
    ):
        if repeat < 1 or baseline_repeat < 1:
            raise CommandError("--repeat and --baseline-repeat must be at least 1.")
        unknown = set(cprofile) - set(CASE_NAMES)
        if unknown:
            raise CommandError(f"--cprofile: unknown case {sorted(unknown)}; the cases are {', '.join(CASE_NAMES)}.")
        chosen = PROFILES[profile]
        for warning in environment_warnings():
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        with tqdm(
            total=chosen.trackers,
            unit="tracker",
            desc="seeding",
            disable=options["verbosity"] < 1,
            file=self.stderr._out,
        ) as bar:
            database = prepare_profile_database(chosen, reseed=reseed, progress=bar.update, log=self.stderr.write)
        if prepare_only:
            return
        with use_database(database):
            report = run_bench(
                chosen,
                repeat=repeat,
                baseline_repeat=baseline_repeat,
                http_url=http_url,
                cprofile=tuple(cprofile),
                log=self.stderr.write,
            )
        self.stdout.write(describe(report))
        self.stdout.write(format_table(report))
        for result in report.cases:
            if result.profile:
                self.stdout.write(f"\n## Where the time goes: {result.description}\n{result.profile}")
        if json_path:
            Path(json_path).write_text(report.as_json())
            self.stderr.write(f"JSON written to {json_path}")
