"""Generated scan series for evaluating the detector: seasonal, over-dispersed, with known truth.

Each code gets a level (10 to 1,000 human scans a day, log-uniform), a weekly pattern, a daily
profile with one or two peaks, a slow trend, and day-to-day variation beyond Poisson (a gamma
day multiplier: variance = μ + φμ²). ``sigma`` is the true standard deviation of each day's
total, so "a 4sigma spike" means 4 * sigma extra scans on that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

HOURS = 24


@dataclass
class Series:
    hourly: np.ndarray   # (codes, days * 24) observed human scans
    mean: np.ndarray     # (codes, days, 24) true expected scans
    sigma: np.ndarray    # (codes, days) true standard deviation of each day's total
    start: datetime      # midnight UTC of day 0

    @property
    def days(self) -> int:
        return self.mean.shape[1]


def seasonal(rng: np.random.Generator, codes: int, days: int, start: datetime) -> Series:
    level = np.exp(rng.uniform(np.log(10), np.log(1000), codes))
    weekly = np.exp(rng.normal(0.0, 0.25, (codes, 7)))
    weekend_heavy = rng.random(codes) < 0.3
    weekly[weekend_heavy, 5:] *= 1.8
    weekly /= weekly.mean(axis=1, keepdims=True)
    hours = np.arange(HOURS)
    peak_a = rng.uniform(8, 13, codes)[:, None]
    peak_b = rng.uniform(16, 21, codes)[:, None]
    profile = (np.exp(-0.5 * ((hours - peak_a) / 2.5) ** 2)
               + rng.uniform(0.2, 1.0, codes)[:, None]
               * np.exp(-0.5 * ((hours - peak_b) / 2.0) ** 2) + 0.03)
    profile /= profile.sum(axis=1, keepdims=True)
    growth = rng.uniform(-0.25, 0.25, codes)[:, None] * np.arange(days)[None, :] / days
    weekday_of = (start.weekday() + np.arange(days)) % 7
    daily_mean = level[:, None] * (1.0 + growth) * weekly[:, weekday_of]
    mean = daily_mean[:, :, None] * profile[:, None, :]
    dispersion = rng.uniform(0.005, 0.04, codes)[:, None]
    multiplier = rng.gamma(1.0 / dispersion, dispersion, (codes, days))
    hourly = rng.poisson(mean * multiplier[:, :, None]).astype(float)
    sigma = np.sqrt(daily_mean + dispersion * daily_mean**2)
    return Series(hourly.reshape(codes, days * HOURS), mean, sigma, start)


def inject(rng: np.random.Generator, series: Series, kind: str, first_day: int, last_day: int,
           size_sigma: float = 4.0) -> np.ndarray:
    """Put one spike or drop of ``size_sigma`` sigma on a random day in [first_day, last_day) of
    every code; returns the chosen day per code."""
    codes = series.hourly.shape[0]
    chosen = rng.integers(first_day, last_day, codes)
    hourly = series.hourly.reshape(codes, series.days, HOURS)
    for code, day in enumerate(chosen):
        extra = size_sigma * series.sigma[code, day]
        share = series.mean[code, day] / series.mean[code, day].sum()
        if kind == "spike":
            hourly[code, day] += rng.multinomial(round(extra), share)
        else:
            keep = max(0.0, 1.0 - extra / series.mean[code, day].sum())
            hourly[code, day] = rng.binomial(hourly[code, day].astype(int), keep)
    return chosen


def poster_removed(series: Series, code: int, from_hour: int) -> None:
    """The poster came down: no scans from this hour on."""
    series.hourly[code, from_hour:] = 0
