"""The `analytics` plugin: honest, privacy-preserving scan analytics, anomalies and forecasts."""
