from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.templatetags.static import PrefixNode, static
from django.urls import reverse

from dashboard import queries, stream

# The page's ES modules, in the import map that points each at its (hashed, when DEBUG is
# off) static URL: relative imports inside the modules then resolve to the versioned files.
MODULES = [
    "api",
    "attention",
    "dom",
    "filters",
    "format",
    "live",
    "main",
    "map",
    "panel",
    "points",
    "replay",
    "state",
    "table",
    "telemetry",
    "trail",
]
# Vendored libraries (dashboard/static/vendor/README.md) and the map's lazily loaded modules, in
# the import map by path, and by the bare name a library's own import uses (supercluster imports
# "kdbush"). Only what every page load runs is preloaded: the land outline and its data load
# when the map has no tiles.
MAP_IMPORTS = [
    # (bare name or None, static path, preload)
    (None, "vendor/supercluster/index.js", True),
    ("kdbush", "vendor/kdbush/index.js", True),
    (None, "dashboard/outline.js", False),
    (None, "vendor/topojson-client/feature.js", False),
    (None, "vendor/topojson-client/reverse.js", False),
    (None, "vendor/topojson-client/transform.js", False),
    (None, "vendor/topojson-client/identity.js", False),
    (None, "vendor/world-atlas/land-110m.json", False),
]
# Rows per table page: the page asks the API for exactly the rows it shows (the map draws
# from the positions feed, never from full items).
TABLE_PAGE_SIZE = 50


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The dashboard: the reference data and the user's scope are embedded, so the filters
    work before the page makes any request."""
    page_config = {
        "csrf_token": get_token(request),
        "map_tile_url": settings.MAP_TILE_URL,
        "table_page_size": TABLE_PAGE_SIZE,
        # What counts as needing attention (the table's low-battery mark, the chips' filters).
        "low_battery_percent": settings.LOW_BATTERY_PERCENT,
        "silent_after_hours": settings.SILENT_AFTER_HOURS,
        # Served under ASGI with the stream on: the page opens it (else it stays a snapshot).
        "live_stream": stream.is_served(request),
        "urls": {
            "trackers": reverse("api:trackers-list"),  # and `{trackers}{id}/`: one tracker, a popup's details
            "positions": reverse("api:trackers-positions"),
            "attention": reverse("api:attention-list"),
            "export": reverse("api:trackers-export"),
            "preferences": reverse("api:me-preferences"),
            "telemetry": reverse("api:telemetry-list"),
            "stream": reverse("api:trackers-stream"),
        },
    }
    reference = queries.reference_payload(request.user)
    context = {
        "reference": reference,
        "scope": queries.scope_summary(request.user, reference=reference),  # no second cache read
        "page_config": page_config,
        "modules": [f"dashboard/{name}.js" for name in MODULES],
        **map_imports(),
    }
    return render(request, "dashboard/index.html", context)


def map_imports() -> dict[str, list]:
    """MAP_IMPORTS for the template: import map entries (specifier → URL) and preloads."""
    prefix = PrefixNode.handle_simple("STATIC_URL")
    entries, preload = [], []
    for bare, path, preloaded in MAP_IMPORTS:
        url = static(path)
        entries.append((f"{prefix}{path}", url))
        if bare:
            entries.append((bare, url))
        if preloaded:
            preload.append(url)
    return {"map_imports": entries, "map_preload": preload}
