"""No broker, gunicorn as shipped: the web workers hand their scans to the master's stream
receiver process, which stores them at background priority (qrplatform.events.receiver).

Each test holds the receiver still (SIGSTOP) to see where the scans are: queued for it and not
stored while it is stopped, stored once it runs again; stored by the workers themselves once it
is gone; and stored before the server exits when it is stopped with scans still queued.
"""

import http.client
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from qrplatform.testing.servers import gunicorn, server_errors
from tests.live.test_background_priority import thread_niceness
from tests.live.test_worker_recycling import make_scan_path
from tests.observability.helpers import value
from tests.observability.test_gunicorn_metrics import get

pytestmark = pytest.mark.slow

NICENESS = 13
FLUSHED = 1.5  # seconds: several flush intervals (0.2 s) of the workers' stream buffers


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a process that ended while we looked
        if parent == pid:
            found.add(int(stat.parent.name))
    return found


def receiver_of(master) -> int:
    """The master's child at the background niceness (the workers run at the master's)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        niced = [pid for pid in children(master.pid)
                 if set(thread_niceness(pid).values()) == {NICENESS}]
        if niced:
            return niced[0]
        time.sleep(0.1)
    raise AssertionError(f"no receiver process:\n{server_errors(master)}")


def holds_listener(pid: int, port: int) -> bool:
    """Whether the process has the server's listening socket open (its inode, from
    /proc/net/tcp, among the process's open files)."""
    inodes = {line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
              if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"}
    links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    return any(f"socket:[{inode}]" in links for inode in inodes)


def scan(port: int, path: str, times: int) -> None:
    for _ in range(times):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path, headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
            assert connection.getresponse().status == 302
        finally:
            connection.close()


def counted(port: int, outcome: str) -> float:
    """Events of ``outcome`` in qrp_events_stream_receiver_events_total (every process's)."""
    status, body = get(port, "/metrics")
    assert status == 200
    return value(body.decode(), "qrp_events_stream_receiver_events_total", outcome=outcome)


def stored(db) -> int:
    from qrp_analytics.models import Scan
    from qrplatform.tenancy import unscoped

    db.session.rollback()  # a fresh snapshot
    with unscoped():
        return db.session.scalar(select(func.count()).select_from(Scan))


def wait_for(db, count: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while (found := stored(db)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


@pytest.fixture
def served(api, database_url, tmp_path):
    """A scan path, and gunicorn serving it with the receiver at NICENESS."""
    path = make_scan_path(api)
    log = tmp_path / "server.log"
    with open(log, "wb") as output, gunicorn(
            database_url, stdout=output,
            env={"QRP_BACKGROUND_NICE": str(NICENESS), "QRP_LOG_LEVEL": "INFO"}) as (port, master):
        yield port, master, path, log


def test_the_receiver_stores_what_the_workers_hand_it(served, db):
    port, master, path, log = served
    receiver = receiver_of(master)
    assert f"stream receiver: process {receiver} stores" in log.read_text()
    # A server started again can bind the port while this receiver still stores.
    assert holds_listener(master.pid, port) and not holds_listener(receiver, port)
    os.kill(receiver, signal.SIGSTOP)
    try:
        scan(port, path, 20)
        time.sleep(FLUSHED)
        assert stored(db) == 0, "a worker stored scans itself while the receiver could take them"
    finally:
        os.kill(receiver, signal.SIGCONT)
    assert wait_for(db, 20) == 20
    assert counted(port, "handed") == 20 and counted(port, "stored_by_worker") == 0


def test_the_workers_store_their_scans_when_the_receiver_is_gone(served, db):
    port, master, path, log = served
    os.kill(receiver_of(master), signal.SIGKILL)
    time.sleep(0.5)  # reaped by the master
    scan(port, path, 10)
    assert wait_for(db, 10) == 10
    assert "is gone; scans are stored by the web workers themselves" in log.read_text()
    assert counted(port, "stored_by_worker") == 10


def test_scans_queued_at_shutdown_are_stored_before_the_server_exits(served, db):
    port, master, path, _log = served
    receiver = receiver_of(master)
    os.kill(receiver, signal.SIGSTOP)
    scan(port, path, 15)
    time.sleep(FLUSHED)
    master.terminate()
    time.sleep(0.5)  # the workers stop and flush; the master waits on the receiver
    os.kill(receiver, signal.SIGCONT)
    master.wait(30)
    assert stored(db) == 15
    assert receiver not in children(os.getpid()) and not Path(f"/proc/{receiver}").exists()


def test_without_the_receiver_the_workers_store_the_scans(api, db, database_url, tmp_path):
    path = make_scan_path(api)
    with gunicorn(database_url, env={"QRP_BACKGROUND_NICE": str(NICENESS),
                                     "QRP_STREAM_RECEIVER": "0"}) as (port, master):
        time.sleep(0.5)
        assert not [pid for pid in children(master.pid)
                    if set(thread_niceness(pid).values()) == {NICENESS}]
        scan(port, path, 5)
        assert wait_for(db, 5) == 5
