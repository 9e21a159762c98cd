"""Core CLI: `flask db upgrade` across every plugin's branch, `flask jobs worker`,
`flask events relay|consume|types`, `flask plugins`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from qrplatform.processes import run_as_background_service, stop_on_sigterm
from qrplatform.registry import registry


class MigrationCommands(click.Group):
    """Flask-Migrate's `db` group, with `upgrade` defaulting to every head.

    Each plugin owns an Alembic branch, so there are several heads; plain `flask db upgrade`
    must bring them all up. The commands are read from Flask-Migrate when a `db` command is
    looked up, so that no other command (nor the web app) imports Alembic.
    """

    def __init__(self):
        super().__init__("db", help="Perform database migrations.")
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        from flask_migrate import upgrade as migrate_upgrade
        from flask_migrate.cli import db as migrate_db

        @click.command("upgrade")
        @click.option("--sql", is_flag=True, help="Print the SQL instead of running it")
        @click.argument("revision", default="heads")
        @with_appcontext
        def upgrade(sql: bool, revision: str):
            """Upgrade the core and every enabled plugin to their latest revision."""
            migrate_upgrade(revision=revision, sql=sql)

        self.params, self.callback = list(migrate_db.params), migrate_db.callback
        for name, command in migrate_db.commands.items():
            self.add_command(command, name)
        self.add_command(upgrade, "upgrade")
        self._loaded = True

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        self._load()  # the group's own options (-d, -x) come from Flask-Migrate too
        return super().make_context(info_name, args, parent=parent, **extra)


plugins_cli = AppGroup("plugins", help="Installed and enabled plugins.")


@plugins_cli.command("list")
def list_plugins():
    """Show the enabled plugins in load order."""
    from qrplatform.plugins import installed_entry_points

    enabled = {p.name: p for p in registry().plugins}
    for name, ep in sorted(installed_entry_points().items()):
        state = "enabled" if name in enabled else "installed"
        requires = ", ".join(enabled[name].requires) if name in enabled else ""
        click.echo(f"{name:14} {state:9} {ep.value:40} "
                   + (f"requires {requires}" if requires else ""))


jobs_cli = AppGroup("jobs", help="Background jobs.")


@jobs_cli.command("worker")
@click.option("--queue", "queues", multiple=True, default=("bulk", "default"),
              show_default=True, help="Queues to work on, most important first.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def jobs_worker(queues, burst):
    """Run an RQ worker inside this app, so that every enabled plugin's jobs can run."""
    from qrplatform.jobs import QUEUES, RQRunner, set_worker_app, worker_class

    runner = current_app.extensions["qrp.jobs.runner"]
    if not isinstance(runner, RQRunner):
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, no worker needed.")
    unknown = set(queues) - set(QUEUES)
    if unknown:
        raise click.ClickException(f"unknown queue(s) {', '.join(sorted(unknown))}; "
                                   f"the queues are {', '.join(QUEUES)}")
    with stop_on_sigterm() as stop:  # until RQ's own handlers take over, in work()
        if not burst:
            run_as_background_service()
        set_worker_app(current_app._get_current_object())
        worker = worker_class(stop)([runner.queue(name) for name in queues],
                                    connection=runner.redis)
        # The scheduler moves retries whose backoff has passed back onto their queue.
        worker.work(burst=burst, with_scheduler=True)


@jobs_cli.command("scheduler")
@click.option("--once", is_flag=True, help="Enqueue what is due now, then stop.")
def jobs_scheduler(once: bool):
    """Enqueue the plugins' scheduled jobs when due; run one or more (they share the work)."""
    from qrplatform.jobs import schedules

    app = current_app._get_current_object()
    if not schedules.registered(app):
        raise click.ClickException("no enabled plugin declares a schedule")
    if once:
        click.echo(f"enqueued {', '.join(schedules.enqueue_due(app)) or 'nothing'}")
        return
    with stop_on_sigterm() as stop:
        run_as_background_service()
        for name, schedule in sorted(schedules.registered(app).items()):
            click.echo(f"{name} every {schedule.every_seconds} s on the {schedule.queue} queue")
        schedules.run_forever(app, stop)


events_cli = AppGroup("events", help="Domain events: relay the outbox, consume, list types.")


@events_cli.command("relay")
@click.option("--once", is_flag=True, help="Relay what is pending, then stop.")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between polls.")
def events_relay(once: bool, interval: float):
    """Move outbox events (and spooled stream events) to the broker."""
    from qrplatform.events.outbox import drain
    from qrplatform.events.stream import drain_spool
    from qrplatform.extensions import db

    def relay_pass() -> tuple[int, int]:
        try:
            return drain(), drain_spool()
        finally:
            db.session.remove()

    if once:
        outbox, spooled = relay_pass()
        click.echo(f"relayed {outbox} events and {spooled} spooled stream events")
        return
    with stop_on_sigterm() as stop:
        run_as_background_service()
        click.echo("relaying events; Ctrl-C to stop")
        while not stop.is_set():
            try:
                sent = sum(relay_pass())
            except Exception as exc:  # the database may be away: keep trying
                current_app.logger.warning("relay pass failed: %s", exc)
                sent = 0
            if not sent:
                stop.wait(interval)


@events_cli.command("consume")
@click.argument("group")
@click.option("--once", is_flag=True, help="Consume what is there, then stop.")
def events_consume(group: str, once: bool):
    """Run the receivers of GROUP (a plugin name) as a Kafka consumer group."""
    from qrplatform.events.dispatch import groups

    if group not in groups():
        raise click.ClickException(
            f"no receivers in group {group!r}; groups: {', '.join(groups()) or 'none'}")
    if not current_app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
        raise click.ClickException("KAFKA_BOOTSTRAP_SERVERS is not set: events are dispatched "
                                   "in-process by the relay, no consumer needed.")
    from qrplatform.events.kafka import run_consumer

    with stop_on_sigterm() as stop:  # from here: a SIGTERM while it connects stops it too
        if not once:
            run_as_background_service()
        stats = run_consumer(current_app._get_current_object(), group, once=once, stop=stop)
    click.echo(f"{group}: {stats.delivered} delivered, {stats.duplicates} duplicates skipped, "
               f"{stats.batched} stream events, {stats.failures} receiver failures")


@events_cli.command("types")
def event_types():
    """Every event type the enabled plugins publish, with what it means."""
    for name, (plugin, description) in sorted(registry().event_types.items()):
        click.echo(f"{name:28} {plugin:12} {description}")


@events_cli.command("failures")
@click.option("--all", "everything", is_flag=True, help="Also events still being retried.")
def event_failures(everything: bool):
    """Events a consumer group's receivers gave up on (parked), newest first."""
    from sqlalchemy import select

    from qrplatform.events.models import EventFailure
    from qrplatform.extensions import db

    query = select(EventFailure).order_by(EventFailure.last_failed_at.desc())
    if not everything:
        query = query.where(EventFailure.parked_at.is_not(None))
    failures = list(db.session.scalars(query))
    for f in failures:
        state = "parked" if f.parked_at else "retrying"
        click.echo(f"{f.group:18} {f.event_id} {f.event_type:24} {state:8} "
                   f"{f.attempts:>3}x  {f.last_error}")
    if not failures:
        click.echo("no failed events")


@events_cli.command("replay")
@click.argument("group")
@click.argument("event_id")
def event_replay(group: str, event_id: str):
    """Run a parked event through GROUP's receivers again (after fixing what failed)."""
    from qrplatform.events.dispatch import replay

    try:
        delivered = replay(group, event_id)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("delivered" if delivered else "failed again: see `flask events failures --all`")


def init_app(app) -> None:
    app.cli.add_command(MigrationCommands(), "db")
    app.cli.add_command(plugins_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(events_cli)
