"""Reading /metrics the way Prometheus does."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape(client, **kwargs) -> str:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def samples(text: str) -> list:
    return [sample for family in text_string_to_metric_families(text)
            for sample in family.samples]


def value(text: str, name: str, **labels) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(s.value for s in samples(text)
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def family_names(text: str) -> set[str]:
    """Every metric family the exposition declares (with or without samples)."""
    return {family.name for family in text_string_to_metric_families(text)}
