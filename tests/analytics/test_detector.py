"""The anomaly detector evaluated on generated seasonal series with injected anomalies.

The evaluation runs ``anomalies.detect`` exactly as the hourly job does — every hour, on the
history up to that hour — over a month of every generated code, merges findings into anomalies
the way the job does (same code and kind within ``MERGE_WINDOW``), and measures:

- recall: the share of injected 4-sigma spikes (drops) found as a spike (drop) on that day;
- false alerts: anomalies per code-month on clean seasonal data.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from qrp_analytics import anomalies

from .series import inject, poster_removed, seasonal

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
CODES = 200
TRAIN = anomalies.TRAIN_DAYS
MONTH = 30
DAYS = TRAIN + 1 + MONTH + 2


def run_hourly(hourly: np.ndarray, first_day: int, last_day: int) -> list[anomalies.Finding]:
    """Every hour from first_day to last_day, as the job would; findings merged per code and
    kind like alerts.record does, so the result is the anomalies (and alerts) people get."""
    merged: dict[tuple[int, str], datetime] = {}
    result = []
    for end_hour in range(first_day * 24 + 1, (last_day + 1) * 24 + 1):
        end = START + timedelta(hours=end_hour)
        for finding in anomalies.detect(hourly[:, :end_hour], end):
            key = (finding.series, finding.kind)
            last = merged.get(key)
            merged[key] = finding.started_at if last is None else max(last, finding.started_at)
            if last is None or finding.started_at - last > anomalies.MERGE_WINDOW:
                result.append(finding)
    return result


def recall(findings, days: np.ndarray, kind: str) -> float:
    found = 0
    for code, day in enumerate(days):
        start = START + timedelta(days=int(day))
        if any(f.series == code and f.kind == kind
               and start - timedelta(hours=24) <= f.started_at < start + timedelta(days=1)
               for f in findings):
            found += 1
    return found / len(days)


# Each figure is its own test over its own generated month (seeded apart), so the test workers
# share the evaluation instead of one of them running all three.
SEED = 20261128
FIRST, LAST = TRAIN + 1, TRAIN + MONTH  # the evaluated month


@pytest.mark.parametrize("kind", ["spike", "drop"])
def test_recall_on_4_sigma_anomalies(kind):
    rng = np.random.default_rng([SEED, ("spike", "drop").index(kind)])
    series = seasonal(rng, CODES, DAYS, START)
    days = inject(rng, series, kind, FIRST, LAST)
    found = recall(run_hourly(series.hourly, FIRST, LAST + 1), days, kind)
    print(f"\ndetector on {CODES} codes x 1 month each: {kind} recall {found:.3f}")
    assert found >= 0.9


def test_at_most_one_false_alert_per_code_month_on_clean_seasonal_data():
    clean = seasonal(np.random.default_rng([SEED, 2]), CODES, DAYS, START)
    false_alerts = len(run_hourly(clean.hourly, FIRST, LAST)) / CODES  # per code-month
    print(f"\ndetector on {CODES} codes x 1 month each: {false_alerts:.3f} false alerts per "
          "code-month")
    assert false_alerts <= 1.0


def test_a_poster_taken_down_is_explained_in_hours():
    rng = np.random.default_rng(7)
    series = seasonal(rng, 1, TRAIN + 3, START)
    series.hourly[0] = rng.poisson(5.0, series.hourly.shape[1])  # ~120 scans a day
    taken_down = (TRAIN + 1) * 24 + 14  # 14:00 on the day after the training window
    poster_removed(series, 0, taken_down)
    end = START + timedelta(hours=taken_down + 6)
    findings = anomalies.detect(series.hourly[:, : taken_down + 6], end)
    drops = [f for f in findings if f.kind == "drop"]
    assert len(drops) == 1
    removed_at = START + timedelta(hours=taken_down)
    assert drops[0].started_at == removed_at
    assert drops[0].observed == 0
    match = re.fullmatch(r"Scans fell to 0 since (\w+) 14:00 UTC; expected ~(\d+)/day\.",
                         drops[0].message)
    assert match, drops[0].message
    assert match[1] == anomalies.WEEKDAYS[removed_at.weekday()]
    assert 105 <= int(match[2]) <= 135


def test_forecast_intervals_cover_what_happens():
    rng = np.random.default_rng(11)
    series = seasonal(rng, 200, TRAIN + 14, START)
    end = START + timedelta(days=TRAIN)
    predicted = anomalies.forecast(series.hourly[:, : TRAIN * 24], end)
    actual = series.hourly.reshape(200, TRAIN + 14, 24).sum(axis=2)[:, TRAIN:]
    inside = total = 0
    for code, days in enumerate(predicted):
        assert days is not None and len(days) == 14
        for d, day in enumerate(days):
            assert day.low <= day.expected <= day.high
            inside += day.low <= actual[code, d] <= day.high
            total += 1
    coverage = inside / total
    print(f"\nforecast: 90 % intervals held {coverage:.3f} of 14-day actuals")
    assert 0.8 <= coverage <= 0.98


def test_short_or_tiny_history_is_not_judged():
    rng = np.random.default_rng(3)
    series = seasonal(rng, 2, TRAIN + 2, START)
    series.hourly[0, : (TRAIN - 10) * 24] = 0      # only 10 days old
    series.hourly[1] = (rng.random(series.hourly.shape[1]) < 0.05).astype(float)  # ~1/day
    series.hourly[:, -30:] = 0                     # and then nothing at all
    end = START + timedelta(hours=series.hourly.shape[1])
    assert anomalies.detect(series.hourly, end) == []
    assert anomalies.forecast(series.hourly, end) == [None, None]
