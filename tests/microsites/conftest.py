"""Helpers for the microsites tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def owner(api):
    return api()


@pytest.fixture(autouse=True)
def fresh_page_cache(app):
    """The session's app caches pages in-process by slug, and every test's pages may take
    the same slugs again: no test sees another's."""
    from qrp_microsites import pagecache

    pagecache.pages(app).forget_local()
    pagecache.domains(app).forget_local()
