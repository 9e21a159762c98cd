"""The editor's redirect rules as form fields, and back (``qr/_rules_editor.html``).

Each rule is a card with a key of its own (``rule-key``, in the cards' order: dragging a card
reorders the keys) and its fields named ``rule-<key>-<field>``. Query parameters are one text
field (``src=flyer, ref``: a name alone means "present"), the scan number one number (the
first N scans). A condition the cards cannot show (a parameter value with a comma) travels in
``rule-<key>-extra`` as JSON so that saving keeps it.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from werkzeug.datastructures import MultiDict

from qrp_qr import smartlinks

KEY = re.compile(r"^[a-z0-9]{1,16}$")
LIST_FIELDS = ("device", "os", "browser", "weekdays")
TEXT_LISTS = ("country", "language")
SHOWN = {*LIST_FIELDS, *TEXT_LISTS, "time", "dates", "query", "scans"}
MAX_CARDS = smartlinks.MAX_RULES + 1


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", text or "") if part.strip()]


def _query(text: str) -> list[dict[str, str]]:
    """``src=flyer, ref`` → [{"name": "src", "value": "flyer"}, {"name": "ref"}]."""
    params = []
    for part in re.split(r"[,\n]", text or ""):
        part = part.strip()
        if not part:
            continue
        name, equals, value = part.partition("=")
        params.append({"name": name.strip(), "value": value.strip()} if equals
                      else {"name": name.strip()})
    return params


def _query_text(params: list[dict[str, str]]) -> str | None:
    """The text field's form of parameters; None when a value cannot be written there."""
    if any("," in p.get("value", "") or "\n" in p.get("value", "") for p in params):
        return None
    return ", ".join(f"{p['name']}={p['value']}" if "value" in p else p["name"] for p in params)


def _extra(text: str) -> dict[str, Any]:
    """The conditions a card keeps without showing them (JSON)."""
    try:
        extra = json.loads(text or "{}")
    except ValueError:
        return {}
    return extra if isinstance(extra, dict) else {}


def from_form(form: MultiDict) -> list[dict[str, Any]] | None:
    """The rules the cards describe, in order (unchecked: the service checks them); None when
    the form has no rules editor."""
    if "rules-present" not in form:
        return None
    return [_rule(form, key) for key in form.getlist("rule-key")[:MAX_CARDS] if KEY.match(key)]


def _rule(form: MultiDict, key: str) -> dict[str, Any]:
    def field(name: str) -> str:
        return (form.get(f"rule-{key}-{name}") or "").strip()

    when: dict[str, Any] = {}
    for name in LIST_FIELDS:
        if values := form.getlist(f"rule-{key}-{name}"):
            when[name] = values
    for name in TEXT_LISTS:
        if values := _split(field(name)):
            when[name] = values
    for name in ("time", "dates"):
        start, end = field(f"{name}-from"), field(f"{name}-to")
        if start or end:
            when[name] = {k: v for k, v in (("from", start), ("to", end))
                          if v or name == "time"}
    if params := _query(field("query")):
        when["query"] = params
    if first := field("scans-first"):
        # A whole number, else the text as typed: the service names the mistake.
        when["scans"] = {"first": int(first) if first.isdigit() and len(first) < 12 else first}
    when.update({k: v for k, v in _extra(field("extra")).items() if k not in when})
    rule: dict[str, Any] = {"when": when, "destination": field("destination")}
    for name in ("id", "name"):
        if field(name):
            rule[name] = field(name)
    return rule


def cards(rules: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """What each card shows: its key, the rule, its conditions split for the fields."""
    shown = []
    for rule in rules or ():
        when = rule.get("when") or {}
        query = _query_text(when.get("query") or [])
        hidden = {k: v for k, v in when.items()
                  if k not in SHOWN or (k == "query" and query is None)}
        shown.append({
            "key": secrets.token_hex(4), "id": rule.get("id") or "", "name": rule.get("name")
            or "", "destination": rule.get("destination") or "",
            **{name: list(when.get(name) or ()) for name in LIST_FIELDS},
            **{name: ", ".join(when.get(name) or ()) for name in TEXT_LISTS},
            "time": when.get("time") or {}, "dates": when.get("dates") or {},
            "query": query or "", "scans": (when.get("scans") or {}).get("first", ""),
            "extra": json.dumps(hidden) if hidden else ""})
    return shown


def variants_from_form(form: MultiDict) -> list[dict[str, Any]] | None:
    """The A/B split's rows (``variant-<key>-<field>``), blank rows left out (unchecked: the
    service checks them); None when the form has no split editor."""
    if "variants-present" not in form:
        return None
    found = []
    for key in form.getlist("variant-key")[:smartlinks.MAX_VARIANTS + 1]:
        if not KEY.match(key):
            continue
        values = {name: (form.get(f"variant-{key}-{name}") or "").strip()
                  for name in ("id", "name", "destination", "weight")}
        if not (values["destination"] or values["weight"] or values["name"]):
            continue
        weight = values["weight"]
        variant: dict[str, Any] = {
            "destination": values["destination"],
            "weight": int(weight) if weight.isdigit() and len(weight) < 10 else weight}
        for name in ("id", "name"):
            if values[name]:
                variant[name] = values[name]
        found.append(variant)
    return found


def variant_rows(variants: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """What each row of the split shows: its key and the variant's fields."""
    return [{"key": secrets.token_hex(4), "id": v.get("id") or "", "name": v.get("name") or "",
             "destination": v.get("destination") or "", "weight": v.get("weight", "")}
            for v in variants or ()]


def test_facts(form: MultiDict) -> dict[str, Any]:
    """The "test a scan" box's description of a scan (blank: not said)."""
    facts: dict[str, Any] = {}
    for name in ("device", "os", "browser", "country", "language"):
        value = (form.get(f"test-{name}") or "").strip()
        if value:
            facts[name] = value
    query = (form.get("test-query") or "").strip().lstrip("?")
    if query:
        facts["query"] = query[:2000]
    number = (form.get("test-scan-number") or "").strip()
    if number.isdigit() and len(number) < 12:
        facts["scan_number"] = max(1, int(number))
    return facts
