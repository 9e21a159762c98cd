"""moto's server as the AWS endpoint in tests: S3 now, CloudWatch Logs (and any other service
moto knows) at the same URL.

- ``moto_server`` (session): ``moto.server.ThreadedMotoServer`` on a free loopback port;
  ``moto_server.client("s3")`` / ``client("logs")`` give boto3 clients for it.
- ``s3_bucket``: a fresh bucket for one test, emptied and removed afterwards.
- ``s3_config``: the settings that point an app at that bucket; ``make_s3_app(**overrides)``
  builds such an app.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

REGION = "us-east-1"
# moto accepts any credentials; fixed ones keep boto3 away from the developer's real profile.
ACCESS_KEY_ID = "testing-access-key"
SECRET_ACCESS_KEY = "testing-secret-key"


@dataclass(frozen=True)
class MotoServer:
    url: str
    region: str = REGION
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = SECRET_ACCESS_KEY

    def client(self, service: str):
        """A boto3 client for ``service`` (``"s3"``, ``"logs"``, ...) talking to this server."""
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=self.access_key_id,
                            aws_secret_access_key=self.secret_access_key)


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    # Port 0: the OS picks a free port; moto reports the one it got.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server) -> str:
    """A bucket of its own for this test (moto's state lives as long as the session)."""
    s3 = moto_server.client("s3")
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def s3_config(moto_server, s3_bucket) -> dict:
    """Settings for ``make_app(**s3_config)``: storage on the test bucket."""
    return {
        "S3_ENDPOINT_URL": moto_server.url,
        "S3_BUCKET": s3_bucket,
        "S3_ACCESS_KEY_ID": moto_server.access_key_id,
        "S3_SECRET_ACCESS_KEY": moto_server.secret_access_key,
        "S3_REGION": moto_server.region,
    }


@pytest.fixture
def make_s3_app(make_app, s3_config) -> Callable:
    """``make_s3_app(**overrides)``: an app whose storage is the test bucket on moto."""

    def factory(**overrides):
        return make_app(**{**s3_config, **overrides})

    return factory
