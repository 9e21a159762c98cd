"""The production stack files, checked as far as a machine without Docker can: they parse,
every command they run exists in the app's CLI, every path they mount or copy exists, and
every environment variable they give the app is one the project reads."""

import json
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from qrplatform import PROJECT_ROOT
from qrplatform.config import BACKEND_VARIABLES, TUNING_VARIABLES
from qrplatform.plugins import load_plugins

DEPLOY = PROJECT_ROOT / "deploy"
APP_IMAGE_TARGET = "app"
STACK = {"app", "worker", "relay", "analytics-consumer", "postgres", "redis", "redpanda",
         "minio", "nginx", "prometheus", "grafana"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def app_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items()
            if service.get("build", {}).get("target") == APP_IMAGE_TARGET}


def variables_the_project_reads() -> set[str]:
    """Environment names read anywhere in the code, plus the ones config.py reads by list."""
    # os.environ.get("NAME"), env["NAME"], and config.py's readers: _env_number("NAME", ...)
    pattern = re.compile(r"""(?:(?:env|environ)(?:\.get\(|\[)|_env_\w+\()"""
                         r"""\s*["']([A-Z][A-Z0-9_]+)["']""")
    sources = [*(PROJECT_ROOT / "qrplatform").rglob("*.py"),
               *(PROJECT_ROOT / "plugins").rglob("*.py"),
               PROJECT_ROOT / "gunicorn.conf.py", PROJECT_ROOT / "wsgi.py"]
    names = set(BACKEND_VARIABLES) | set(TUNING_VARIABLES)
    # Plugin settings (Plugin.settings) are read from the environment by the core, by name.
    names |= {name for plugin in load_plugins() for name in plugin.settings}
    for source in sources:
        names.update(pattern.findall(source.read_text()))
    return names


def test_the_stack_has_every_service_the_issue_lists(compose):
    assert set(compose["services"]) >= STACK
    for name in ("worker", "relay", "analytics-consumer"):
        assert compose["services"][name]["build"]["target"] == APP_IMAGE_TARGET


def test_every_variable_given_to_the_app_is_one_it_reads(compose):
    read = variables_the_project_reads()
    assert {"QRP_METRICS_TOKEN", "SENTRY_DSN", "GUNICORN_WORKERS"} <= read  # the scan works
    for name, service in app_services(compose).items():
        unknown = set(service.get("environment", {})) - read
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_every_placeholder_is_explained_in_the_env_example():
    text = (DEPLOY / "docker-compose.yml").read_text()
    placeholders = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    example = {line.split("=", 1)[0] for line in (DEPLOY / ".env.example").read_text()
               .splitlines() if "=" in line and not line.startswith("#")}
    assert placeholders - example == set()


def _resolve(cli: click.Group, args: list[str]) -> tuple[click.Command, list[str], str]:
    command, path = cli, []
    # get_command, not .commands: a group may load its commands when asked (`flask db`).
    while isinstance(command, click.Group) and args and (
            sub := command.get_command(click.Context(command), args[0])) is not None:
        path.append(args[0])
        command, args = sub, args[1:]
    return command, args, " ".join(path)


@pytest.fixture(scope="module")
def cli_app(make_app):
    # With a Mixpanel token, so that every receiver group that can exist is registered.
    return make_app(MIXPANEL_TOKEN="deploy-check")


def test_every_command_the_stack_runs_exists(compose, cli_app):
    from qrplatform.events.dispatch import groups

    with cli_app.app_context():
        receiver_groups = set(groups())
    consumed = set()
    for name, service in app_services(compose).items():
        command = service["command"]
        if command[0] == "gunicorn":
            config = command[command.index("-c") + 1]
            assert (PROJECT_ROOT / config).is_file()
            module, attribute = command[-1].split(":")
            assert re.search(rf"^{attribute} = ", (PROJECT_ROOT / f"{module}.py").read_text(),
                             re.M)
            continue
        assert command[:3] == ["flask", "--app", "wsgi"], name
        resolved, rest, path = _resolve(cli_app.cli, command[3:])
        assert not isinstance(resolved, click.Group), f"{name}: `flask {path}` needs more"
        resolved.make_context(f"flask {path}", list(rest))  # refuses unknown options
        if path == "events consume":
            consumed.add(rest[0])
    # Each receiver group runs somewhere, and nothing consumes a group that does not exist.
    assert consumed == receiver_groups


def test_every_mounted_path_exists(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for secret in compose["secrets"].values():
        assert secret["environment"] in compose["services"]["app"]["environment"]


def test_prometheus_scrapes_the_app_with_the_token_and_loads_the_rules(compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["dns_sd_configs"][0]["names"] == ["app"]
    assert job["dns_sd_configs"][0]["port"] == 8000
    assert "0.0.0.0:8000" in compose["services"]["app"]["environment"]["GUNICORN_BIND"]
    prometheus = compose["services"]["prometheus"]
    assert job["authorization"]["credentials_file"] == \
        f"/run/secrets/{prometheus['secrets'][0]}"
    mounted = {volume.split(":")[1] for volume in prometheus["volumes"]}
    assert set(config["rule_files"]) <= mounted
    yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (PROJECT_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_the_dockerfile_is_well_formed_and_copies_what_exists(compose):
    known = {"FROM", "RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "HEALTHCHECK", "CMD",
             "ENTRYPOINT", "ARG", "LABEL"}
    instructions = dockerfile_instructions()
    assert {keyword for keyword, _ in instructions} <= known
    stages = [rest.split(" AS ")[1] for keyword, rest in instructions if keyword == "FROM"]
    targets = {s["build"]["target"] for s in compose["services"].values() if "build" in s}
    assert targets <= set(stages)
    ignored = [line for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
               if line]
    for keyword, rest in instructions:
        if keyword == "COPY" and "--from=" not in rest:
            *sources, _destination = shlex.split(rest)
            for source in sources:
                assert (PROJECT_ROOT / source).exists(), source
                assert source.rstrip("/") not in ignored, f"{source} is in .dockerignore"
        if keyword == "COPY" and "--from=" in rest:
            assert rest.split("--from=")[1].split()[0] in stages
    [command] = [rest for keyword, rest in instructions if keyword == "CMD"]
    assert json.loads(command) == compose["services"]["app"]["command"]
    # The nginx image rewrites the upstream line of the shared site config; it must be there.
    assert "server 127.0.0.1:8000;" in (PROJECT_ROOT / "nginx" / "qrplatform.conf").read_text()
    assert "assets:" in (PROJECT_ROOT / "Makefile").read_text()


def test_the_deploy_guide_says_what_was_and_was_not_checked():
    guide = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    for topic in ("First run", "Migrations", "Scaling", "Backups", "Secrets",
                  "What was checked"):
        assert f"## {topic}" in guide, topic
    assert "Docker" in guide and "not run" in guide
    assert Path("deploy/docker-compose.yml").as_posix() in guide


@pytest.mark.parametrize(("setting", "expected"), [(None, 0.001), ("2.5", 0.0025)])
def test_a_worker_hands_the_interpreter_between_its_threads_every_millisecond(
        monkeypatch, tmp_path, setting, expected):
    """A request waits at most this long for the stream flush thread at each of its turns."""
    import runpy
    import sys

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    if setting is None:
        monkeypatch.delenv("GUNICORN_GIL_SWITCH_INTERVAL_MS", raising=False)
    else:
        monkeypatch.setenv("GUNICORN_GIL_SWITCH_INTERVAL_MS", setting)
    monkeypatch.delitem(sys.modules, "wsgi", raising=False)  # no app to re-open sockets of
    settings = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    before = sys.getswitchinterval()
    try:
        settings["post_fork"](None, None)
        assert sys.getswitchinterval() == pytest.approx(expected)
    finally:
        sys.setswitchinterval(before)
