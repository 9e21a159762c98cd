"""Background jobs: RQ against real Redis (the `flask jobs worker` command, forking work
horses), the embedded worker thread, and what a user sees through the API and the HTMX partial."""

import contextvars
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rq
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from qrplatform import jobs, notify
from qrplatform.jobs import Job, JobError
from qrplatform.notify import Notification
from qrplatform.tenancy import tenant_scope, unscoped
from qrplatform.testing.waiting import wait_until

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# -- jobs the tests run (module-level and taking plain values, like a plugin's jobs) -----------

def count_to(total: int) -> dict:
    for n in range(1, total + 1):
        jobs.progress(n, total, f"counted {n} of {total}")
    return {"counted": total}


def refuse() -> None:
    raise JobError("The spreadsheet has no 'url' column.")


def crash() -> None:
    raise ValueError("unexpected cell")


def fail_first_attempts(failures: int) -> dict:
    attempt = jobs.current().attempt
    if attempt <= failures:
        raise ConnectionError(f"upstream hiccup on attempt {attempt}")
    return {"succeeded_on_attempt": attempt}


def die_abruptly() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would


release_halfway_job = threading.Event()


def wait_halfway() -> dict:
    jobs.progress(1, 2, "halfway")
    if not release_halfway_job.wait(timeout=10):
        raise JobError("the test never released the job")
    jobs.progress(2, 2, "finished the second half")
    return {"halves": 2}


TEST_JOBS = (count_to, refuse, crash, fail_first_attempts, wait_halfway, die_abruptly)


@pytest.fixture
def make_jobs_app(make_app, db):
    """An app with the test jobs registered, as a plugin's Plugin.jobs would."""

    def factory(**config):
        app = make_app(**config)
        for func in TEST_JOBS:
            jobs.register(app, func)
        return app

    return factory


@pytest.fixture
def rq_app(make_jobs_app, redis, redis_url):
    return make_jobs_app(REDIS_URL=redis_url, QRP_JOBS_INLINE=False, QRP_JOBS_RETRY_BACKOFF=(1,))


@pytest.fixture
def owner(create_user):
    return create_user()


def enqueue_committed(app, workspace_id: int, *calls) -> list[str]:
    """Enqueue ``(func, args, options)`` calls in one transaction as the workspace; commit."""
    with app.app_context(), tenant_scope(workspace_id):
        ids = [jobs.enqueue(func, *args, **options).id for func, args, options in calls]
        jobs_db().session.commit()
    return ids


def jobs_db():
    from qrplatform.extensions import db

    return db


def run_worker(app) -> None:
    """`flask jobs worker --burst`: a real forking RQ worker, in this process."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # In an empty context, as from a shell: the test's own app context is not the worker's.
        result = contextvars.Context().run(app.test_cli_runner().invoke,
                                           args=["jobs", "worker", "--burst"])
    finally:
        for sig, handler in handlers.items():  # the worker installs its own
            signal.signal(sig, handler)
    assert result.exit_code == 0, result.output


# -- RQ -----------------------------------------------------------------------------------------

def test_rq_worker_runs_jobs_with_progress_and_shows_failures(rq_app, redis, owner, api, login,
                                                              client):
    workspace = owner.personal_workspace_id
    ok_id, refused_id, crash_id = enqueue_committed(
        rq_app, workspace,
        (count_to, (3,), {}),
        (refuse, (), {"queue": "bulk", "retries": 2}),
        (crash, (), {}),
    )
    assert rq.Queue("default", connection=redis).job_ids == [ok_id, crash_id]
    assert rq.Queue("bulk", connection=redis).job_ids == [refused_id]

    run_worker(rq_app)

    owner_api = api(owner)
    done = owner_api.get(f"/api/v1/jobs/{ok_id}").json
    assert done["state"] == "finished"
    assert (done["done"], done["total"], done["percent"]) == (3, 3, 100)
    assert done["message"] == "counted 3 of 3"
    assert done["result"] == {"counted": 3}
    assert done["finished_at"] is not None

    refused = owner_api.get(f"/api/v1/jobs/{refused_id}").json
    assert refused["state"] == "failed"
    assert refused["error"] == "The spreadsheet has no 'url' column."
    assert refused["attempts"] == 1, "a JobError is final even when retries were allowed"
    assert refused_id in FailedJobRegistry("bulk", connection=redis).get_job_ids()

    crashed = owner_api.get(f"/api/v1/jobs/{crash_id}").json
    assert crashed["state"] == "failed"
    assert crashed["error"] == "Unexpected error (ValueError: unexpected cell)"
    assert rq.job.Job.fetch(crash_id, connection=redis).get_status() == "failed"

    login(owner)
    partial = client.get(f"/jobs/{refused_id}", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    html = partial.get_data(as_text=True)
    assert "<html" not in html, "an htmx request gets the fragment only"
    assert "The spreadsheet has no &#39;url&#39; column." in html
    assert 'data-state="failed"' in html
    assert "hx-get" not in html, "an ended job stops polling"
    page = client.get(f"/jobs/{ok_id}").get_data(as_text=True)
    assert "<html" in page and 'data-state="finished"' in page


def test_rq_retries_a_job_safe_to_repeat_after_its_backoff(rq_app, redis, owner, api):
    [job_id] = enqueue_committed(rq_app, owner.personal_workspace_id,
                                 (fail_first_attempts, (1,), {"retries": 2}))

    before_run = time.time()
    run_worker(rq_app)
    after_run = time.time()

    retrying = api(owner).get(f"/api/v1/jobs/{job_id}").json
    assert retrying["state"] == "retrying"
    assert retrying["error"] == "Unexpected error (ConnectionError: upstream hiccup on attempt 1)"
    scheduled = ScheduledJobRegistry("default", connection=redis)
    assert scheduled.get_job_ids() == [job_id], "the retry waits for its backoff"
    retry_at = scheduled.get_scheduled_time(job_id).timestamp()
    # RQ keeps whole seconds: the retry is due 1 s after a failure that happened during the run.
    assert int(before_run) + 1 <= retry_at <= after_run + 1

    time.sleep(max(0.0, retry_at - time.time()) + 0.1)
    run_worker(rq_app)  # its scheduler puts the due retry back on the queue

    done = api(owner).get(f"/api/v1/jobs/{job_id}").json
    assert done["state"] == "finished"
    assert done["attempts"] == 2
    assert done["result"] == {"succeeded_on_attempt": 2}
    assert done["error"] is None


def test_rq_holds_a_delayed_job_until_its_time(rq_app, redis, owner, api):
    before = time.time()
    [job_id] = enqueue_committed(rq_app, owner.personal_workspace_id,
                                 (count_to, (1,), {"delay": 1}))
    scheduled = ScheduledJobRegistry("default", connection=redis)
    assert scheduled.get_job_ids() == [job_id]
    assert int(before) + 1 <= scheduled.get_scheduled_time(job_id).timestamp() <= time.time() + 1
    run_worker(rq_app)
    assert api(owner).get(f"/api/v1/jobs/{job_id}").json["state"] == "queued", "not yet due"

    time.sleep(max(0.0, scheduled.get_scheduled_time(job_id).timestamp() - time.time()) + 0.1)
    run_worker(rq_app)
    assert api(owner).get(f"/api/v1/jobs/{job_id}").json["result"] == {"counted": 1}


def test_job_whose_worker_process_dies_is_shown_failed(rq_app, redis, owner, api):
    [job_id] = enqueue_committed(rq_app, owner.personal_workspace_id, (die_abruptly, (), {}))

    run_worker(rq_app)

    job = api(owner).get(f"/api/v1/jobs/{job_id}").json
    assert job["state"] == "failed"
    assert job["error"].startswith("The worker running this job stopped unexpectedly")
    assert job_id in FailedJobRegistry("default", connection=redis).get_job_ids()


def test_job_enqueued_in_a_rolled_back_transaction_never_runs(rq_app, redis, owner):
    db = jobs_db()
    with rq_app.app_context(), tenant_scope(owner.personal_workspace_id):
        jobs.enqueue(count_to, 1)
        db.session.rollback()
        db.session.commit()

        kept = jobs.enqueue(count_to, 1).id
        savepoint = db.session.begin_nested()
        jobs.enqueue(count_to, 2)
        savepoint.rollback()
        with db.session.begin_nested():
            released = jobs.enqueue(count_to, 3).id
        assert rq.Queue("default", connection=redis).count == 0, "nothing before the commit"
        db.session.commit()

    assert rq.Queue("default", connection=redis).job_ids == [kept, released]
    with rq_app.app_context(), unscoped():
        assert {job.id for job in Job.query} == {kept, released}


def test_another_workspace_cannot_see_the_job(rq_app, owner, create_user, api, login, client):
    [job_id] = enqueue_committed(rq_app, owner.personal_workspace_id, (count_to, (1,), {}))

    stranger = create_user()
    response = api(stranger).get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 404
    assert response.json["error"]["status"] == 404
    login(stranger)
    assert client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).status_code == 404
    assert api(owner).get(f"/api/v1/jobs/{job_id}").json["state"] == "queued"


def test_queue_down_marks_the_job_failed_instead_of_losing_it(make_jobs_app, owner, api):
    app = make_jobs_app(REDIS_URL="redis://127.0.0.1:1/0", QRP_JOBS_INLINE=False)
    [job_id] = enqueue_committed(app, owner.personal_workspace_id, (count_to, (1,), {}))

    job = api(owner).get(f"/api/v1/jobs/{job_id}").json
    assert job["state"] == "failed"
    assert job["error"].startswith("The job could not be queued (ConnectionError")


def test_flask_jobs_worker_command_builds_the_app_and_runs_core_jobs(rq_app, redis, redis_url,
                                                                     database_url):
    """The production command in its own process: it builds the app from the environment,
    so jobs declared anywhere (here the core's e-mail delivery) can run."""
    with rq_app.app_context():
        message_id = notify.send_email("dan@example.com", "password_reset", subject="Reset",
                                       name="Dan", link="https://qr.example/r", hours=1).id
        jobs_db().session.commit()
    assert rq.Queue("default", connection=redis).count == 1

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SECRET_KEY": "test-secret-key", "QRP_PLUGINS": ",".join(rq_app.config["QRP_PLUGINS"])}
    for name in ("SENDGRID_API_KEY", "TWILIO_ACCOUNT_SID", "S3_BUCKET", "KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    worker = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker", "--burst"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stderr[-3000:]

    with rq_app.app_context(), unscoped():
        message = jobs_db().session.get(Notification, message_id)
        assert (message.status, message.provider_id) == ("sent", "logged")


def test_a_worker_asked_to_stop_while_it_starts_leaves_before_taking_a_job(rq_app, redis, owner):
    """A SIGTERM that comes while `flask jobs worker` registers with Redis, before RQ listens
    for it, sets the event the worker was made with (processes.stop_on_sigterm): the worker
    stops at the top of its loop instead of working on until the next SIGTERM."""
    [job_id] = enqueue_committed(rq_app, owner.personal_workspace_id, (count_to, (3,), {}))
    stopping = threading.Event()
    stopping.set()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with rq_app.app_context():
            runner = rq_app.extensions["qrp.jobs.runner"]
            jobs.set_worker_app(rq_app)
            worker = jobs.worker_class(stopping)([runner.queue("default")],
                                                 connection=runner.redis)
            assert worker.work(burst=True) is False
    finally:
        for sig, handler in handlers.items():  # the worker installs its own
            signal.signal(sig, handler)
    assert rq.Queue("default", connection=redis).job_ids == [job_id]
    assert rq.Worker.all(connection=redis) == []  # it said goodbye to Redis


def test_a_stop_that_comes_while_the_worker_writes_a_log_line_is_not_lost(rq_app, redis):
    """RQ stops an idle worker by raising from its SIGTERM handler. Raised while a log line was
    being written (its first registry cleaning, as it starts), logging swallowed it and the
    worker waited on Redis for jobs until a second signal killed it."""
    signalled = threading.Event()

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            if "cleaning registries" in text and not signalled.is_set():
                signalled.set()
                os.kill(os.getpid(), signal.SIGTERM)   # handled here, inside the write
            return super().write(text)

    def second_signal() -> None:   # only if the first was lost: cold shutdown
        time.sleep(15)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    finished = threading.Event()
    watchdog = threading.Thread(target=second_signal, daemon=True)
    lines = logging.StreamHandler(Stream())
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    rq_log = logging.getLogger("rq.worker")
    rq_log.addHandler(lines)
    started = time.monotonic()
    try:
        with rq_app.app_context():
            runner = rq_app.extensions["qrp.jobs.runner"]
            jobs.set_worker_app(rq_app)
            worker = jobs.worker_class()([runner.queue("default")], connection=runner.redis)
            watchdog.start()
            worker.work(burst=False)
    finally:
        finished.set()
        rq_log.removeHandler(lines)
        for sig, handler in handlers.items():  # the worker installs its own
            signal.signal(sig, handler)
    assert signalled.is_set()
    assert time.monotonic() - started < 10
    assert rq.Worker.all(connection=redis) == []  # it said goodbye to Redis


def test_a_scheduler_forked_while_the_worker_starts_dies_on_sigterm():
    """RQ forks its scheduler before RQ's handlers are installed in it, so the child inherits
    processes.stop_on_sigterm's handler. In the child it dies on SIGTERM, which the worker's
    stop sends it and then waits for; in the worker itself it only notes the stop."""
    import multiprocessing

    from qrplatform import processes

    context = multiprocessing.get_context("fork")

    def start(ready) -> None:
        ready.set()
        time.sleep(4)

    with processes.stop_on_sigterm() as stop:
        ready = context.Event()
        scheduler = context.Process(target=start, args=(ready,))
        scheduler.start()
        try:
            assert ready.wait(10)
            os.kill(scheduler.pid, signal.SIGTERM)
            scheduler.join(10)
            assert scheduler.exitcode == -signal.SIGTERM
            assert not stop.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.wait(5)
        finally:
            if scheduler.is_alive():
                scheduler.kill()


# -- the embedded runner ------------------------------------------------------------------------

def test_worker_thread_runs_jobs_and_progress_shows_while_running(make_jobs_app, owner, api,
                                                                  login, client):
    app = make_jobs_app(QRP_JOBS_INLINE=False, QRP_JOBS_RETRY_BACKOFF=(0.2,))
    release_halfway_job.clear()
    slow_id, flaky_id = enqueue_committed(
        app, owner.personal_workspace_id,
        (wait_halfway, (), {}),
        (fail_first_attempts, (2,), {"retries": 2}),
    )
    owner_api = api(owner)
    login(owner)

    try:
        running = wait_until(lambda: (job := owner_api.get(f"/api/v1/jobs/{slow_id}").json)
                             ["done"] == 1 and job)
        assert running["state"] == "started"
        assert (running["total"], running["percent"], running["message"]) == (2, 50, "halfway")
        html = client.get(f"/jobs/{slow_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "hx-get=" in html and 'hx-trigger="every 1s"' in html, "a running job polls"
        assert "halfway · 50%" in html   # the job's own words, then the share done
    finally:
        release_halfway_job.set()

    finished = wait_until(lambda: (job := owner_api.get(f"/api/v1/jobs/{slow_id}").json)
                          ["state"] == "finished" and job)
    assert finished["result"] == {"halves": 2}
    flaky = wait_until(lambda: (job := owner_api.get(f"/api/v1/jobs/{flaky_id}").json)
                       ["state"] in {"finished", "failed"} and job)
    assert (flaky["state"], flaky["attempts"]) == ("finished", 3)


def test_inline_runner_runs_the_job_right_after_the_commit(make_jobs_app, owner, api):
    app = make_jobs_app()  # QRP_JOBS_INLINE, as in every test app by default
    ok_id, crash_id = enqueue_committed(app, owner.personal_workspace_id,
                                        (count_to, (2,), {}), (crash, (), {"retries": 1}))

    assert api(owner).get(f"/api/v1/jobs/{ok_id}").json["result"] == {"counted": 2}
    crashed = api(owner).get(f"/api/v1/jobs/{crash_id}").json
    assert (crashed["state"], crashed["attempts"]) == ("failed", 2)
    assert crashed["error"] == "Unexpected error (ValueError: unexpected cell)"


def test_delayed_jobs_wait_in_the_thread_and_in_tests(make_jobs_app, owner, api):
    threaded = make_jobs_app(QRP_JOBS_INLINE=False)
    enqueued = time.monotonic()
    [job_id] = enqueue_committed(threaded, owner.personal_workspace_id,
                                 (count_to, (1,), {"delay": 0.5}))
    assert api(owner).get(f"/api/v1/jobs/{job_id}").json["state"] == "queued"
    wait_until(lambda: api(owner).get(f"/api/v1/jobs/{job_id}").json["state"] == "finished")
    assert time.monotonic() - enqueued >= 0.5

    inline = make_jobs_app()
    [job_id] = enqueue_committed(inline, owner.personal_workspace_id,
                                 (count_to, (1,), {"delay": 3600}))
    assert api(owner).get(f"/api/v1/jobs/{job_id}").json["state"] == "queued"
    runner = inline.extensions["qrp.jobs.runner"]
    assert runner.run_delayed(wait=False) == 1 and runner.run_delayed() == 0
    assert api(owner).get(f"/api/v1/jobs/{job_id}").json["result"] == {"counted": 1}


def test_jobs_take_plain_values_not_objects(make_jobs_app, owner):
    app = make_jobs_app()
    with (app.app_context(), tenant_scope(owner.personal_workspace_id),
          pytest.raises(TypeError, match="takes plain values such as ids")):
        jobs.enqueue(count_to, owner)


def test_an_unexpected_error_is_shown_by_its_first_line():
    """A database error's message goes on with its SQL and parameters: the job's page shows
    what went wrong, the log keeps the rest."""
    from sqlalchemy.exc import OperationalError

    from qrplatform.jobs import _user_message

    error = OperationalError("UPDATE jobs SET done=? WHERE jobs.id = ?", (2, "a-job"),
                             Exception("database is locked"))
    assert "\n" in str(error) and "UPDATE jobs" in str(error)
    assert _user_message(error) == "Unexpected error (OperationalError: (builtins.Exception) " \
                                   "database is locked)"
    assert _user_message(ValueError()) == "Unexpected error (ValueError)"
