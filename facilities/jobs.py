"""Background jobs of the facilities: an import uploaded in the admin."""

from __future__ import annotations

from facilities import imports


def run_uploaded_import(import_id: int) -> None:
    imports.run_upload(import_id)
