"""The settings of the server that tests/live_server.py starts: production's, with the test suite's fast
password hasher (tests/conftest.py), so users made by a test can log in to it over HTTP."""

from trackerdash.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
