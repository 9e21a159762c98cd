"""Helpers for the assets tests."""

from __future__ import annotations

import io

import pytest


def upload(client, data: bytes, filename: str = "file.bin", content_type: str | None = None,
           **form):
    """POST /api/v1/assets with a multipart ``file`` (and any form fields)."""
    body = {"file": (io.BytesIO(data), filename, content_type or "application/octet-stream"),
            **form}
    return client.post("/api/v1/assets", data=body, content_type="multipart/form-data")


@pytest.fixture
def owner(api):
    return api()
