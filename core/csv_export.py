"""CSV downloads from the admin, as staff open them in Excel: UTF-8 with a byte-order mark, streamed row by row,
free text never read as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """Free text as a spreadsheet cell shows it, never runs it: a leading apostrophe makes a would-be formula text."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def csv_download(filename: str, header: list[str], rows: Iterable[list[Any]]) -> Response:
    """A streamed CSV attachment of ``rows`` as given: the caller passes free text through ``spreadsheet_text``."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # a byte-order mark, so that spreadsheet programs read the Chinese as UTF-8
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()  # the header alone, when there is no row

    response = Response(stream_with_context(lines()), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return response
