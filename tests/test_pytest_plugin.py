"""The pytest plugin shipped for third parties (``pytest11`` entry point): installed next to
any project, it must leave tests that do not ask for an app alone — no database demanded."""

import subprocess
import sys
import textwrap


def test_a_test_without_app_fixtures_runs_with_no_database_reachable(tmp_path):
    (tmp_path / "test_plain.py").write_text(textwrap.dedent("""
        def test_arithmetic():
            assert 1 + 1 == 2
    """))
    # Nothing listens on port 9: any attempt to reach PostgreSQL would fail the run.
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
           "REDIS_URL": "redis://127.0.0.1:9/0"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout
    plugins = subprocess.run([sys.executable, "-m", "pytest", "--trace-config", "-q",
                              "--co", "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=120)
    assert "qrplatform.testing.pytest_plugin" in plugins.stdout  # the plugin was active
