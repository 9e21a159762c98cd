"""Expected scans, anomalies and forecasts: a seasonal count model in numpy.

For each code with enough history (``MIN_HISTORY_DAYS`` active days, ``MIN_DAILY_HUMANS`` human
scans a day on average) the model says how many human scans to expect in any hour:

    expected(hour) = (level + trend * days ahead) * weekday factor
                     * share of that hour on that weekday

fitted on up to 12 weeks of complete days before yesterday, robustly (winsorised means,
medians, a Theil-Sen slope over weekly means), so that a past anomaly does not become the new
normal. Scans are over-dispersed counts: variance = mu + phi * mu^2, phi from the winsorised
Pearson residuals, inflated for the uncertainty of the fitted level and weekday factors.
Each run (hourly, ``detect``) checks:

- yesterday as a whole: a spike or drop of the day's total (Pearson score: a "4 sigma day" is
  defined on the count scale);
- a sustained drop ending now: the start hour (within three days) that makes the shortfall
  most significant, so the message can say "fell to 0 since Tuesday 14:00" (Anscombe score,
  which behaves like a normal score for small counts too);
- the last hour: a burst far above the hour's expectation;
- bot bursts: non-human scans in the last hour far above their own rate over the past week.

Thresholds were chosen on generated seasonal series; tests/analytics/test_detector.py runs this
very code hourly over a month of 200 generated codes and asserts recall >= 0.9 on 4-sigma
spikes and drops and <= 1 false alert per code-month on clean data (it prints the figures).
Every function takes arrays of many series at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

HOURS = 24
TRAIN_DAYS = 84
MIN_HISTORY_DAYS = 14
MIN_DAILY_HUMANS = 3.0
# Days of the recent level estimate (the median of the last LEVEL_DAYS deseasonalised days).
LEVEL_DAYS = 28
# Score thresholds (Anscombe scale ≈ standard normal) and minimum sizes of an anomaly.
Z_DAY_SPIKE = 2.2
Z_DAY_DROP = 2.7
Z_RUN_DROP = 5.0
Z_HOUR_SPIKE = 6.0
Z_BOT_BURST = 6.0
MIN_DAY_EXCESS = 5
MIN_HOUR_EXCESS = 10
MIN_RUN_EXPECTED = 15.0
MIN_BOT_BURST = 20
RUN_DROP_RATIO = 0.5
RUN_LOOKBACK_HOURS = 72
# Findings of the same kind for a code within this window are one anomaly (one alert).
MERGE_WINDOW = timedelta(hours=24)
FORECAST_DAYS = 14
INTERVAL_Z = 1.645  # a 90 % interval
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def anscombe_score(observed, expected, dispersion, inflation=1.0):
    """How unusual ``observed`` is given ``expected`` (≈ N(0, 1) under the model)."""
    observed = np.asarray(observed, dtype=float)
    expected = np.maximum(np.asarray(expected, dtype=float), 0.0)
    spread = np.sqrt((1.0 + dispersion * expected) * inflation)
    return 2.0 * (np.sqrt(observed + 0.375) - np.sqrt(expected + 0.375)) / spread


def pearson_score(observed, expected, dispersion, inflation=1.0):
    """Standard deviations between ``observed`` and ``expected`` on the count scale; for day
    totals, where counts are large enough and a "4sigma day" is defined on this scale."""
    expected = np.maximum(np.asarray(expected, dtype=float), 0.0)
    variance = np.maximum((expected + dispersion * expected**2) * inflation, 1.0)
    return (np.asarray(observed, dtype=float) - expected) / np.sqrt(variance)


@dataclass
class SeasonalModel:
    """Fitted parameters of n series; day 0 is the first day after the training window."""

    level: np.ndarray        # (n,) expected scans on day 0, deseasonalised
    trend: np.ndarray        # (n,) change of the level per day
    weekday: np.ndarray      # (n, 7) multiplicative factors, mean 1
    hour_share: np.ndarray   # (n, 7, 24) share of a weekday's scans per hour, rows sum to 1
    dispersion: np.ndarray   # (n,) φ of variance = μ + φμ²
    inflation: np.ndarray    # (n,) variance factor for the uncertainty of the estimates
    ready: np.ndarray        # (n,) enough history to judge
    start: datetime          # midnight UTC of day 0

    def daily_expected(self, days: np.ndarray) -> np.ndarray:
        """(n, len(days)) expected scans on days (offsets from day 0)."""
        days = np.asarray(days)
        weekdays = (self.start.weekday() + days) % 7
        level = np.maximum(self.level[:, None] + self.trend[:, None] * days[None, :], 0.0)
        return level * self.weekday[:, weekdays]

    def hourly_expected(self, first_hour: int, count: int) -> np.ndarray:
        """(n, count) expected scans in consecutive hours from ``first_hour`` (offset from the
        start of day 0; may be negative)."""
        hours = np.arange(first_hour, first_hour + count)
        days = np.floor_divide(hours, HOURS)
        weekdays = (self.start.weekday() + days) % 7
        daily = self.daily_expected(days)
        return daily * self.hour_share[:, weekdays, hours % HOURS]


def fit(hourly: np.ndarray, start: datetime) -> SeasonalModel:
    """Fit on ``hourly`` (n, days, 24): complete UTC days, the last one just before ``start``.

    Days before a series' first scan are not history (the code did not exist yet).
    """
    # Series without history give empty slices (NaN, handled below), which numpy warns about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _fit(hourly, start)


def _fit(hourly: np.ndarray, start: datetime) -> SeasonalModel:
    hourly = np.asarray(hourly, dtype=float)[:, -TRAIN_DAYS:, :]
    n, days, _ = hourly.shape
    daily = hourly.sum(axis=2)
    first_weekday = (start.weekday() - days) % 7
    weekday_of = (first_weekday + np.arange(days)) % 7
    seen = np.cumsum(daily > 0, axis=1) > 0
    active_days = seen.sum(axis=1)
    observed = np.where(seen, daily, np.nan)
    ages = days - np.arange(days)  # day t lies `ages[t]` days before day 0
    with np.errstate(all="ignore"):
        rough_level = np.nan_to_num(np.nanmedian(observed[:, -LEVEL_DAYS:], axis=1), nan=0.0)
        base = np.maximum(rough_level, 0.5)
        # Whole weeks (aligned on the end of the window) carry no weekday effect: their means
        # give the trend, and each day's ratio to its own week's mean gives the weekday effect.
        weeks = days // 7
        blocks = observed[:, days - weeks * 7:].reshape(n, weeks, 7)
        block_means = blocks.mean(axis=2)  # NaN unless the whole week is history
        trend = _theil_sen(block_means) / 7.0
        # A trend may not move the level by more than half of it over two weeks.
        limit = 0.5 * base / 14.0
        trend = np.clip(trend, -limit, limit)
        ratios = blocks / block_means[:, :, None]
        block_weekdays = weekday_of[days - weeks * 7:].reshape(weeks, 7)[0]
        ratios = _winsorise(ratios)
        weekday = np.ones((n, 7))
        weekday_weeks = np.zeros((n, 7))
        for position, w in enumerate(block_weekdays):
            column = ratios[:, :, position]
            count = np.isfinite(column).sum(axis=1)
            mean = np.nan_to_num(np.nanmean(column, axis=1), nan=1.0)
            # Few scans say little about a weekday: shrink its factor towards 1.
            weight = base * count / (base * count + 30.0)
            weekday[:, w] = 1.0 + weight * (mean - 1.0)
            weekday_weeks[:, w] = count
        weekday = np.maximum(weekday, 0.05)
        weekday /= weekday.mean(axis=1, keepdims=True)
        deseasonalised = observed / weekday[:, weekday_of]
        projected = _winsorise(deseasonalised + trend[:, None] * ages[None, :])
        level = np.nanmean(projected[:, -LEVEL_DAYS:], axis=1)
        level = np.maximum(np.nan_to_num(level, nan=0.0), 0.0)
        fitted = np.maximum(level[:, None] - trend[:, None] * ages[None, :], 0.05) \
            * weekday[:, weekday_of]
        # Over-dispersion from the Pearson residuals: winsorised (a past anomaly must not
        # widen the band), and corrected for the factors having been fitted to these days.
        fitted_weeks = np.maximum(weekday_weeks.mean(axis=1), 1.0)
        relative = (observed - fitted) / fitted
        centre = np.nanmedian(relative, axis=1, keepdims=True)
        mad = 1.4826 * np.nanmedian(np.abs(relative - centre), axis=1, keepdims=True)
        relative = np.clip(relative, centre - 3 * mad, centre + 3 * mad)
        squared = np.nanmean(relative**2 - 1.0 / fitted, axis=1)
        squared *= fitted_weeks / np.maximum(fitted_weeks - 1.0, 1.0)
        dispersion = np.clip(np.nan_to_num(squared, nan=0.0), 0.0, 1.0)
        # Variance of the estimates themselves: the weekday mean and the level median.
        level_days = np.clip(active_days, 1, LEVEL_DAYS)
        inflation = 1.0 + 1.0 / fitted_weeks + 1.1 / level_days
    dispersion = np.nan_to_num(dispersion, nan=0.0)
    hour_share = _hour_shares(hourly, seen, weekday_of)
    ready = (active_days >= MIN_HISTORY_DAYS) & (rough_level >= MIN_DAILY_HUMANS)
    return SeasonalModel(level, trend, weekday, hour_share, dispersion, inflation, ready,
                         start)


def _winsorise(ratios: np.ndarray) -> np.ndarray:
    """Clip values along axis 1 to their median ± 3 MADs, so one odd day or week cannot
    move an estimate."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(ratios, axis=1, keepdims=True)
        mad = 1.4826 * np.nanmedian(np.abs(ratios - median), axis=1, keepdims=True)
        mad = np.maximum(np.nan_to_num(mad, nan=0.0), 0.05)
    return np.clip(ratios, median - 3 * mad, median + 3 * mad)


def _theil_sen(values: np.ndarray) -> np.ndarray:
    """The median of pairwise slopes per row, ignoring NaNs (robust to outlying points)."""
    n, points = values.shape
    if points < 2:
        return np.zeros(n)
    left, right = np.triu_indices(points, k=1)
    slopes = (values[:, right] - values[:, left]) / (right - left)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trend = np.nanmedian(slopes, axis=1)
    return np.nan_to_num(trend, nan=0.0)


def _hour_shares(hourly: np.ndarray, seen: np.ndarray, weekday_of: np.ndarray) -> np.ndarray:
    n = hourly.shape[0]
    counted = np.where(seen[:, :, None], hourly, 0.0)
    per_weekday = np.zeros((n, 7, HOURS))
    for w in range(7):
        per_weekday[:, w, :] = counted[:, weekday_of == w, :].sum(axis=1)
    pooled = per_weekday.sum(axis=1)
    pooled_total = pooled.sum(axis=1, keepdims=True)
    pooled_share = np.where(pooled_total > 0, pooled / np.maximum(pooled_total, 1e-9),
                            1.0 / HOURS)
    # Pseudo-counts pull a weekday with few scans towards the pooled daily profile.
    prior = 48.0
    share = (per_weekday + prior * pooled_share[:, None, :]) / (
        per_weekday.sum(axis=2, keepdims=True) + prior)
    share = 0.98 * share + 0.02 / HOURS
    return share / share.sum(axis=2, keepdims=True)


# -- detection ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    series: int           # index of the series in the arrays given
    kind: str             # spike, drop or bot_burst
    started_at: datetime
    ended_at: datetime | None
    observed: float       # scans in the anomalous window
    expected: float
    score: float
    message: str


def _day_label(moment: datetime) -> str:
    return f"{WEEKDAYS[moment.weekday()]} {moment.day} {moment:%b}"


def _moment_label(moment: datetime) -> str:
    return f"{WEEKDAYS[moment.weekday()]} {moment:%H:%M} UTC"


def _per_day(amount: float, hours: float) -> str:
    rate = amount * HOURS / max(hours, 1.0)
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}".rstrip("0").rstrip(".")


def detect(humans: np.ndarray, end: datetime, others: np.ndarray | None = None
           ) -> list[Finding]:
    """Anomalies of n series of hourly human scans ending at ``end`` (an hour boundary, UTC).

    ``humans`` (n, hours): column -1 is the hour just before ``end``; it must reach back over
    the training window, yesterday and today (``history_hours(end)``). ``others``: the same
    for non-human scans (bots, previews, HEAD), for bot bursts.
    """
    end = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    today = end.replace(hour=0) if end.hour else end - timedelta(days=1)
    yesterday = today - timedelta(days=1)
    hours_today = int((end - today).total_seconds() // 3600)  # 1..24
    needed = history_hours(end)
    humans = _last_columns(np.asarray(humans, dtype=float), needed)
    n = humans.shape[0]
    train = humans[:, : TRAIN_DAYS * HOURS].reshape(n, TRAIN_DAYS, HOURS)
    model = fit(train, yesterday)
    findings: list[Finding] = []
    findings += _yesterday(model, humans[:, TRAIN_DAYS * HOURS: (TRAIN_DAYS + 1) * HOURS],
                           yesterday)
    recent_hours = HOURS + hours_today  # yesterday and today so far
    recent = humans[:, -recent_hours:]
    expected = model.hourly_expected(0, recent_hours)
    findings += _running_drops(model, recent, expected, end)
    findings += _hour_spikes(model, recent[:, -1], expected[:, -1], end)
    if others is not None:
        findings += _bot_bursts(_last_columns(np.asarray(others, dtype=float), needed), end)
    return findings


def history_hours(end: datetime) -> int:
    """How many hours of history ``detect`` needs for a run ending at ``end``."""
    end = end.astimezone(UTC)
    hours_today = end.hour or HOURS
    return (TRAIN_DAYS + 1) * HOURS + hours_today


def _last_columns(values: np.ndarray, count: int) -> np.ndarray:
    if values.shape[1] >= count:
        return values[:, -count:]
    padding = np.zeros((values.shape[0], count - values.shape[1]))
    return np.concatenate([padding, values], axis=1)


def _yesterday(model: SeasonalModel, hours: np.ndarray, day: datetime) -> list[Finding]:
    observed = hours.sum(axis=1)
    expected = model.daily_expected(np.array([0]))[:, 0]
    score = pearson_score(observed, expected, model.dispersion, model.inflation)
    spikes = model.ready & (score >= Z_DAY_SPIKE) & (observed - expected >= MIN_DAY_EXCESS)
    drops = model.ready & (score <= -Z_DAY_DROP) & (expected >= MIN_DAILY_HUMANS)
    found = []
    for i in np.flatnonzero(spikes | drops):
        kind = "spike" if spikes[i] else "drop"
        message = (f"{observed[i]:,.0f} scans on {_day_label(day)}; "
                   f"expected ~{expected[i]:,.0f}.")
        if kind == "drop":
            message = f"Only {message}"
        found.append(Finding(int(i), kind, day, day + timedelta(days=1), float(observed[i]),
                             float(expected[i]), float(score[i]), message))
    return found


def _running_drops(model: SeasonalModel, recent: np.ndarray, expected: np.ndarray,
                   end: datetime) -> list[Finding]:
    """The most significant shortfall over windows [start, end) with start in the lookback."""
    lookback = min(RUN_LOOKBACK_HOURS, recent.shape[1])
    observed_sums = np.cumsum(recent[:, ::-1][:, :lookback], axis=1)  # windows of 1..lookback h
    expected_sums = np.cumsum(expected[:, ::-1][:, :lookback], axis=1)
    score = anscombe_score(observed_sums, expected_sums, model.dispersion[:, None],
                           model.inflation[:, None])
    eligible = (expected_sums >= MIN_RUN_EXPECTED) & (
        observed_sums <= RUN_DROP_RATIO * expected_sums)
    score = np.where(eligible, score, np.inf)
    best = np.argmin(score, axis=1)
    best_score = score[np.arange(len(best)), best]
    found = []
    for i in np.flatnonzero(model.ready & (best_score <= -Z_RUN_DROP)):
        hours = int(best[i]) + 1
        start = end - timedelta(hours=hours)
        seen, wanted = float(observed_sums[i, best[i]]), float(expected_sums[i, best[i]])
        level = "0" if seen == 0 else f"~{_per_day(seen, hours)}/day"
        message = (f"Scans fell to {level} since {_moment_label(start)}; "
                   f"expected ~{_per_day(wanted, hours)}/day.")
        found.append(Finding(int(i), "drop", start, None, seen, wanted, float(best_score[i]),
                             message))
    return found


def _hour_spikes(model: SeasonalModel, observed: np.ndarray, expected: np.ndarray,
                 end: datetime) -> list[Finding]:
    score = anscombe_score(observed, expected, model.dispersion, model.inflation)
    spikes = model.ready & (score >= Z_HOUR_SPIKE) & (observed - expected >= MIN_HOUR_EXCESS)
    start = end - timedelta(hours=1)
    return [Finding(int(i), "spike", start, end, float(observed[i]), float(expected[i]),
                    float(score[i]),
                    f"{observed[i]:,.0f} scans between {start:%H:%M} and {end:%H:%M} UTC on "
                    f"{_day_label(start)}; expected ~{_per_day(expected[i], HOURS)}.")
            for i in np.flatnonzero(spikes)]


def _bot_bursts(others: np.ndarray, end: datetime) -> list[Finding]:
    """Non-human scans in the last hour against their mean over the week before."""
    last = others[:, -1]
    baseline = others[:, -(7 * HOURS + 1):-1].mean(axis=1)
    score = anscombe_score(last, baseline, 0.0)
    bursts = (score >= Z_BOT_BURST) & (last >= MIN_BOT_BURST)
    start = end - timedelta(hours=1)
    return [Finding(int(i), "bot_burst", start, end, float(last[i]), float(baseline[i]),
                    float(score[i]),
                    f"{last[i]:,.0f} bot, preview or HEAD scans between {start:%H:%M} and "
                    f"{end:%H:%M} UTC; usually ~{baseline[i]:.1f} an hour.")
            for i in np.flatnonzero(bursts)]


# -- forecasts ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ForecastDay:
    day: datetime
    expected: float
    low: float
    high: float


def forecast(humans: np.ndarray, end: datetime, days: int = FORECAST_DAYS
             ) -> list[list[ForecastDay] | None]:
    """Daily human scans expected over the next ``days`` days from today (UTC), with a 90 %
    interval, for n series of hourly scans ending at ``end``; None where history is short."""
    end = end.astimezone(UTC)
    today = end.replace(hour=0, minute=0, second=0, microsecond=0)
    hours_today = int((end - today).total_seconds() // 3600)
    humans = _last_columns(np.asarray(humans, dtype=float), TRAIN_DAYS * HOURS + hours_today)
    n = humans.shape[0]
    train = humans[:, : TRAIN_DAYS * HOURS].reshape(n, TRAIN_DAYS, HOURS)
    model = fit(train, today)
    expected = model.daily_expected(np.arange(days))
    spread = np.sqrt((1.0 + model.dispersion[:, None] * expected) * model.inflation[:, None])
    root = np.sqrt(expected + 0.375)
    low = np.maximum((np.maximum(root - INTERVAL_Z * spread / 2.0, 0.0)) ** 2 - 0.375, 0.0)
    high = (root + INTERVAL_Z * spread / 2.0) ** 2 - 0.375
    result: list[list[ForecastDay] | None] = []
    for i in range(n):
        if not model.ready[i]:
            result.append(None)
            continue
        result.append([ForecastDay(today + timedelta(days=d), float(expected[i, d]),
                                   float(low[i, d]), float(high[i, d])) for d in range(days)])
    return result
