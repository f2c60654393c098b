"""The tracker export as CSV lines that a spreadsheet opens as data, never as formulas.

OWASP "CSV Injection": a cell starting with `=`, `+`, `-`, `@`, tab or carriage return is run
as a formula by Excel, LibreOffice and Google Sheets (`=HYPERLINK("http://evil","x")` in a
tracker's name). Such text cells get a leading `'`, which the spreadsheet shows as text.
Numbers are written as numbers: a negative latitude stays `-33.9`, not `'-33.9`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence

from rest_framework.negotiation import BaseContentNegotiation

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """`value`, or a text value that a spreadsheet would run as a formula, prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write() hands the line back, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """The header, then each row, as CSV lines (for a StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([spreadsheet_safe(value) for value in row])


class CSVContentNegotiation(BaseContentNegotiation):
    """The export answers CSV whatever the client accepts (`Accept: text/csv` included: DRF's
    negotiation against the JSON renderer refused it with a 406); its errors stay JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
