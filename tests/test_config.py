"""Settings read from the environment: a value that cannot be what the setting is stops the
start with the variable's name and what to give instead (not a bare "invalid literal")."""

import re

import pytest

from qrplatform.config import load_settings
from qrplatform.plugins import PluginError


@pytest.mark.parametrize(("name", "value", "message"), [
    ("QRP_PROXY_HOPS", "one", "QRP_PROXY_HOPS is 'one': give a whole number"),
    ("QRP_PROXY_HOPS", "-1", "QRP_PROXY_HOPS is '-1': give a whole number 0 or more"),
    ("QRP_KAFKA_PARTITIONS", "six", "QRP_KAFKA_PARTITIONS is 'six': give a whole number"),
    ("QRP_WEBHOOK_TIMEOUT", "10s", "QRP_WEBHOOK_TIMEOUT is '10s': give a number"),
    ("QRP_REMEMBER_DAYS", "nan", "QRP_REMEMBER_DAYS is 'nan': give a number 0 or more"),
    ("SENTRY_TRACES_SAMPLE_RATE", "1.5",
     "SENTRY_TRACES_SAMPLE_RATE is '1.5': give a number from 0 to 1"),
    ("QRP_BACKGROUND_NICE", "20", "QRP_BACKGROUND_NICE is '20': give a whole number from 0 to 19"),
    ("QRP_JOBS_RETRY_BACKOFF", "5,30,soon", "QRP_JOBS_RETRY_BACKOFF is '5,30,soon': give whole "
                                            "numbers of 0 or more, separated by commas"),
])
def test_a_number_setting_given_something_else_stops_the_start_naming_it(
        monkeypatch, tmp_path, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings(str(tmp_path))


def test_number_settings_are_read_as_numbers(monkeypatch, tmp_path):
    for name, value in {"QRP_PROXY_HOPS": " 1 ", "QRP_KAFKA_PARTITIONS": "3",
                        "SENTRY_TRACES_SAMPLE_RATE": "0.25", "QRP_JOBS_RETRY_BACKOFF": "5, 30",
                        "QRP_WEBHOOK_RETRY_SCHEDULE": "0.5,2", "QRP_BACKGROUND_NICE": "0"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(str(tmp_path))
    assert (settings["QRP_PROXY_HOPS"], settings["QRP_KAFKA_PARTITIONS"]) == (1, 3)
    assert settings["SENTRY_TRACES_SAMPLE_RATE"] == 0.25
    assert settings["QRP_JOBS_RETRY_BACKOFF"] == [5, 30]
    assert settings["QRP_WEBHOOK_RETRY_SCHEDULE"] == [0.5, 2.0]
    assert settings["QRP_BACKGROUND_NICE"] == 0


def test_a_plugins_number_setting_given_something_else_stops_the_start_naming_it(
        make_app, monkeypatch):
    monkeypatch.setenv("QR_BULK_PROCESSES", "two")
    with pytest.raises(PluginError, match=re.escape("QR_BULK_PROCESSES is 'two': give a whole "
                                                   "number")):
        make_app()
