"""Background services take the CPU the web workers leave: the long-running relay, consumers,
job workers and scheduler lower their own priority (Unix niceness) to QRP_BACKGROUND_NICE,
every thread included, so that on a machine they share a scan's redirect is answered first.
SIGTERM then ends each of them cleanly, also while it is still connecting: the pass it is in
finishes and it exits with 0.
The one-off forms (--once, --burst), run from an operator's shell or inside a test, keep
the priority they were started with. A service also keeps the built app out of the garbage
collector's walks (its batches' collections would walk it again and again)."""

import gc
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from qrplatform import PROJECT_ROOT
from qrplatform.processes import run_as_background_service
from qrplatform.testing.servers import app_environment

COMMANDS = {
    "relay": ("events", "relay"),
    "consumer": ("events", "consume", "analytics"),
    "job worker": ("jobs", "worker"),
    "scheduler": ("jobs", "scheduler"),
}


def thread_niceness(pid: int) -> dict[int, int]:
    """Each thread's niceness (field 19 of its stat line, after the command's parentheses)."""
    niceness = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended while we looked
        niceness[int(task.name)] = int(fields[16])
    return niceness


@pytest.mark.parametrize("stopped", ["while it starts", "while it runs"])
@pytest.mark.parametrize("service", COMMANDS)
def test_a_background_service_runs_at_the_background_niceness(
        service, stopped, database_url, redis_url, kafka_broker, tmp_path):
    log = tmp_path / "service.log"
    env = {**app_environment(database_url, REDIS_URL=redis_url, QRP_BACKGROUND_NICE="13",
                             KAFKA_BOOTSTRAP_SERVERS=kafka_broker.bootstrap,
                             QRP_KAFKA_GROUP_PREFIX=f"nice-{uuid.uuid4().hex[:8]}."),
           "QRP_LOG_LEVEL": "INFO", "PYTHONFAULTHANDLER": "1"}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", *COMMANDS[service]],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: what it forks goes with it
    try:
        deadline = time.monotonic() + 60
        # Said once every thread it has is at the new niceness; then it connects, and runs.
        while "running at niceness 13" not in log.read_text():
            assert process.poll() is None, f"the {service} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"still at niceness 0:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
        if stopped == "while it runs":
            time.sleep(0.5)  # the threads it starts once it runs (a consumer's heartbeat, ...)
        assert set(thread_niceness(process.pid).values()) == {13}
    finally:
        process.terminate()
        try:
            returncode = process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGABRT)  # the fault handler prints every stack
            process.wait(10)
            pytest.fail(f"the {service} did not stop on SIGTERM:\n{log.read_text()[-6000:]}")
    assert returncode == 0, log.read_text()[-3000:]


def test_a_one_off_run_keeps_its_priority(app):
    before = os.getpriority(os.PRIO_PROCESS, 0)
    result = app.test_cli_runner().invoke(args=["events", "relay", "--once"])
    assert result.exit_code == 0, result.output
    assert os.getpriority(os.PRIO_PROCESS, 0) == before


def test_a_background_service_freezes_the_objects_of_the_built_app(app):
    app.config["QRP_BACKGROUND_NICE"] = 0       # this test process keeps its priority
    gc.unfreeze()
    try:
        with app.app_context():
            run_as_background_service()
        assert gc.get_freeze_count() > 10_000   # the app's modules, models, routes...
    finally:
        gc.unfreeze()
