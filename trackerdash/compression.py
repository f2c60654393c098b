"""gzip for the JSON answers: compressed when the client accepts it, never per hit of the query cache.

`JsonCompressionMiddleware` is Django's `GZipMiddleware` narrowed to what pays and what is safe:

1. A body already gzip-compressed by the query cache (the view set `Content-Encoding: gzip`)
   goes out as stored to a client that accepts gzip, and is decoded for one that does not.
2. Any other JSON answer (`application/json`, `*+json`) of at least `COMPRESS_MIN_BYTES` is
   compressed (gzip level 6) for a client that accepts gzip.
3. Everything else is untouched: streams (`text/event-stream`, the CSV export), HTML, static
   files (WhiteNoise serves its own precompressed copies), and small bodies.

Every JSON answer it could compress carries `Vary: Accept-Encoding`. `COMPRESS_RESPONSES=false`
switches 2 off and makes the query cache store plain bodies; 1 keeps working for entries stored
before the switch.
"""

from __future__ import annotations

import gzip

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import GZipMiddleware, re_accepts_gzip
from django.utils.cache import patch_vary_headers


def _is_json(response: HttpResponse) -> bool:
    media_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def accepts_gzip(request: HttpRequest) -> bool:
    return bool(re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")))


class JsonCompressionMiddleware(GZipMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.streaming or not _is_json(response):
            return response
        if response.get("Content-Encoding") == "gzip":  # stored compressed by the query cache
            patch_vary_headers(response, ("Accept-Encoding",))
            if not accepts_gzip(request):
                response.content = gzip.decompress(response.content)
                del response["Content-Encoding"]
                if response.has_header("Content-Length"):
                    response["Content-Length"] = str(len(response.content))
            return response
        if not settings.COMPRESS_RESPONSES or len(response.content) < settings.COMPRESS_MIN_BYTES:
            return response
        return super().process_response(request, response)
