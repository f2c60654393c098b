"""The page's import map for the map's libraries: vendored files, by path and by bare name,
versioned when DEBUG is off, and only what every page load runs preloaded."""

import json
import re

import pytest
from django.core.management import call_command

from dashboard.views import MAP_IMPORTS

pytestmark = pytest.mark.django_db

IMPORT_MAP = r'<script type="importmap" nonce="[^"]+">(.*?)</script>'


def page(client, owner) -> str:
    client.force_login(owner)
    return client.get("/").content.decode()


def test_the_import_map_names_the_vendored_libraries_by_path_and_kdbush_by_its_bare_name(client, owner):
    body = page(client, owner)

    imports = json.loads(re.search(IMPORT_MAP, body).group(1))["imports"]
    # points.js imports "../vendor/supercluster/index.js", which imports "kdbush".
    assert imports["/static/vendor/supercluster/index.js"] == "/static/vendor/supercluster/index.js"
    assert imports["kdbush"] == imports["/static/vendor/kdbush/index.js"] == "/static/vendor/kdbush/index.js"
    assert imports["/static/vendor/world-atlas/land-110m.json"] == "/static/vendor/world-atlas/land-110m.json"
    assert imports["/static/dashboard/api.js"] == "/static/dashboard/api.js"  # the page's own, still there
    # The clustering is preloaded; the outline (for a map without tiles) is not.
    preloaded = re.findall(r'<link rel="modulepreload" href="([^"]+)">', body)
    assert "/static/vendor/supercluster/index.js" in preloaded
    assert "/static/vendor/kdbush/index.js" in preloaded
    assert not [url for url in preloaded if "outline" in url or "topojson" in url or "world-atlas" in url]


def test_with_debug_off_the_vendored_files_are_versioned_and_served(client, owner, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_AUTOREFRESH = False
    call_command("collectstatic", "--noinput", "--ignore", "admin", "--ignore", "rest_framework", verbosity=0)

    imports = json.loads(re.search(IMPORT_MAP, page(client, owner)).group(1))["imports"]

    for _, path, _ in MAP_IMPORTS:
        versioned = imports[f"/static/{path}"]
        stem, extension = path.rsplit(".", 1)
        assert re.fullmatch(rf"/static/{re.escape(stem)}\.[0-9a-f]{{12}}\.{extension}", versioned), path
        assert client.get(versioned).status_code == 200, path
    assert imports["kdbush"] == imports["/static/vendor/kdbush/index.js"]
