"""Scheduled jobs: enqueued once per interval, however many schedulers run."""

import pytest
from sqlalchemy import select

from qrplatform.jobs import Job, schedules
from qrplatform.plugins import Schedule
from qrplatform.tenancy import unscoped

RUNS = []
NAME = f"{__name__}:tidy_up"


def tidy_up() -> dict:
    RUNS.append("ran")
    return {"tidied": True}


def scheduled_jobs(db) -> list[Job]:
    with unscoped():
        return list(db.session.scalars(select(Job).where(Job.name.like("%tidy_up"))))


@pytest.fixture
def scheduled_app(make_app):
    def build(**config):
        app = make_app(QRP_PLUGINS=[], **config)  # this test's schedule and the core's
        schedules.register(app, Schedule(tidy_up, every_seconds=3600))
        return app

    RUNS.clear()
    return build


def test_two_schedulers_on_redis_enqueue_a_due_job_once(scheduled_app, db, redis, redis_url):
    first = scheduled_app(REDIS_URL=redis_url, QRP_JOBS_INLINE=True)
    second = scheduled_app(REDIS_URL=redis_url, QRP_JOBS_INLINE=True)
    assert NAME in schedules.enqueue_due(first)
    assert schedules.enqueue_due(second) == []  # the other process already took this hour
    assert schedules.enqueue_due(first) == []
    jobs = scheduled_jobs(db)
    assert len(jobs) == 1 and jobs[0].workspace_id is None  # a system job
    assert jobs[0].state == "finished" and jobs[0].result == {"tidied": True}
    assert RUNS == ["ran"]
    assert 3500 < redis.ttl(schedules.CLAIM_KEY.format(name=NAME)) <= 3600

    redis.delete(schedules.CLAIM_KEY.format(name=NAME))  # an hour on
    assert schedules.enqueue_due(second) == [NAME]
    assert len(scheduled_jobs(db)) == 2


def test_embedded_scheduler_keeps_its_times_in_memory(scheduled_app, db):
    app = scheduled_app()
    assert NAME in schedules.enqueue_due(app)
    assert schedules.enqueue_due(app) == []
    assert RUNS == ["ran"]


def test_scheduler_command_and_the_analytics_schedules(app, db):
    names = set(schedules.registered(app))
    assert {"analytics.detect_anomalies", "analytics.purge_expired"} <= names
    result = app.test_cli_runner().invoke(args=["jobs", "scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "detect_anomalies" in result.output and "purge_expired" in result.output
    with unscoped():
        states = {job.name: job.state for job in db.session.scalars(select(Job))}
    assert states["analytics.purge_expired"] == "finished"
    assert states["analytics.detect_anomalies"] == "finished"


def test_a_schedule_more_often_than_the_scheduler_looks_is_refused(make_app):
    with pytest.raises(ValueError, match="more often than the scheduler looks"):
        schedules.register(make_app(), Schedule(tidy_up, every_seconds=1))
