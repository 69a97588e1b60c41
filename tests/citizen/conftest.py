"""Fixtures of other packages' tests that citizen's tests use as well."""

from tests.core.test_migrations import empty_app, empty_database_url  # noqa: F401 (fixtures)
from tests.media.conftest import fetch  # noqa: F401 (a fixture)
