"""The benchmark and load-test harness: `manage.py bench`, `make loadtest`, the measuring scripts.

It measures the dashboard's requests side by side with two reference points, in one run
on one machine, so that every performance claim is a ratio and never a wall-clock guess:
the N+1 **baseline** of the original design and the one-statement **floor** (`baseline.py`).

    profiles.py   the profiles (trackers × history) and each one's own database and cache prefix
    baseline.py   the N+1 baseline view and the floor SQL
    cases.py      the measured cases
    measure.py    transports, query counts, cache hit rates, one case's measurement
    run.py        a run: the cases interleaved round by round
    report.py     the results, the ratios and the table
    management/commands/bench.py   `manage.py bench`
    loadtest/     `make loadtest`: gunicorn + locust on a profile's database
    scripts/      ad-hoc measurements (not tests)

A Django app of its own (INSTALLED_APPS) only for its management command: the domain app
`dashboard` holds no measuring code and never imports this package.
"""
