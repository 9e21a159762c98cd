"""Smart links: a dynamic code's redirect rules and A/B variants, checked and evaluated here.

The public shape (the API's, fixed by the contract):

    rules    = [{id, name?, when: {...}, destination}, ...]   ordered; the first match wins
    variants = [{id, name?, destination, weight}, ...]         the default destination, split

``when`` holds the conditions; inside one condition any listed value matches, and every
condition of a rule must hold:

    device   ["mobile", "tablet", "desktop"]
    os       ["ios", "android", "windows", "macos", "linux"]
    browser  ["chrome", "safari", "firefox", "edge", "samsung", "opera"]
    country  ["DE", ...]             ISO 3166 alpha-2, from the CDN header the platform trusts
    language ["de", ...]             the visitor's most preferred language (Accept-Language)
    time     {"from": "09:00", "to": "17:30"}   in the workspace's time zone; to < from wraps
    weekdays ["mon", ..., "sun"]     in the workspace's time zone
    dates    {"from": "2026-12-01", "to": "2026-12-24"}  inclusive, either end optional
    query    [{"name": "src", "value": "flyer"}]  a parameter present (no value) or equal
    scans    {"first": 100}          the code's first N counted scans

App deep links ("open in app"): ``app_link = {"ios": {"app"?, "store"?}, "android": {...}}``.
A phone of that OS that no rule caught goes to its app URL (a universal/app link or an app's
own scheme such as ``myapp://item/1``), else to its store link; everything else goes on to the
variants or the destination, which is the web fallback. An app's own scheme cannot be followed
by a browser without the app, so that scan gets a tiny page that tries the app and then falls
back (to the store link, else the web destination): ``app_target``.

No rule matching (nor an app link): the variants (sticky per visitor for a UTC day, by the
same daily salt the unique count uses, so nothing identifying is stored), else the code's
destination.

Evaluation runs on the redirect's fast path from the cached entry: ``compiled(entry)`` turns
the entry's rules into closures once per process and entry, and ``Visit`` works out each fact
of the request (agent, country, local time, scan number...) only when a rule asks for it.
A leaf module: it imports nothing of the plugin.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qrplatform import urls, useragents

MAX_RULES = 50
MAX_VARIANTS = 10
MAX_WEIGHT = 1000
MAX_VALUES = 50
MAX_COUNTRIES = 250
MAX_QUERY_PARAMS = 10
MAX_DESTINATION = 2000
MAX_NAME = 100
MAX_FIRST_SCANS = 1_000_000_000

DEVICES = ("mobile", "tablet", "desktop")
OSES = ("ios", "android", "windows", "macos", "linux")
BROWSERS = ("chrome", "safari", "firefox", "edge", "samsung", "opera")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How pages name systems and browsers (the API's values are the lower-case ones above).
LABELS = {"ios": "iOS", "android": "Android", "windows": "Windows", "macos": "macOS",
          "linux": "Linux", "chrome": "Chrome", "safari": "Safari", "firefox": "Firefox",
          "edge": "Edge", "samsung": "Samsung Internet", "opera": "Opera"}
CONDITIONS = ("device", "os", "browser", "country", "language", "time", "weekdays", "dates",
              "query", "scans")
LIST_CONDITIONS = {"device": DEVICES, "os": OSES, "browser": BROWSERS, "weekdays": WEEKDAYS}
# Desktop computers never run a phone's OS (an iPad asking for a desktop site says "macos").
MOBILE_OSES = frozenset({"ios", "android"})

ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
LANGUAGE = re.compile(r"^[a-z]{2,8}$")
PARAM_NAME = re.compile(r"^[^\s&=#]{1,100}$")

# ua-parser's families, in the rules' words.
_OS_FAMILIES = {"iOS": "ios", "iPadOS": "ios", "Android": "android", "Mac OS X": "macos",
                "macOS": "macos", "Linux": "linux", "Ubuntu": "linux", "Fedora": "linux",
                "Debian": "linux", "Arch Linux": "linux", "Red Hat": "linux",
                "openSUSE": "linux", "Linux Mint": "linux", "Gentoo": "linux"}
_BROWSER_PREFIXES = (("Samsung Internet", "samsung"), ("Edge", "edge"), ("Opera", "opera"),
                     ("Firefox", "firefox"), ("Chrome", "chrome"), ("Chromium", "chrome"),
                     ("Mobile Safari", "safari"), ("Safari", "safari"))


class RulesError(ValueError):
    """Rules or variants that cannot be stored; ``fields`` maps e.g. ``rules.2.when.os`` to its
    messages."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("Some redirect rules or variants are invalid.")
        self.fields = fields


# -- what a visit is, in the rules' words --------------------------------------------------------

@functools.lru_cache(maxsize=16384)
def agent_facts(user_agent: str | None) -> tuple[str | None, str | None, str | None]:
    """(device, os, browser) of a user agent in the rules' vocabulary (None: none of them)."""
    agent = useragents.parse_agent(user_agent)
    os_name = "windows" if agent.os.startswith("Windows") else _OS_FAMILIES.get(agent.os)
    browser = next((word for prefix, word in _BROWSER_PREFIXES
                    if agent.browser.startswith(prefix)), None)
    device = agent.device if agent.device in DEVICES else None
    return device, os_name, browser


def country_of(value: str | None) -> str | None:
    """The CDN's country header as ISO alpha-2; its "unknown" and "Tor" codes are None."""
    value = (value or "").strip().upper()
    if len(value) == 2 and value.isalpha() and value not in {"XX", "T1"}:
        return value
    return None


@functools.lru_cache(maxsize=4096)  # browsers send a few hundred distinct headers, not more
def language_of(header: str | None) -> str | None:
    """The primary tag of the most preferred language in Accept-Language."""
    best, best_q = None, -1.0
    for position, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.split("-", 1)[0].strip().lower()
        if primary.isalpha() and 1 < len(primary) <= 8 and q > best_q and q > 0:
            best, best_q = primary, q - position * 1e-6
    return best


@functools.lru_cache(maxsize=1024)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


_UNSET = object()


class Visit:
    """The facts of one scan a rule may ask about, each worked out at most once and only when
    asked (most codes have no rules; most rules ask one thing)."""

    __slots__ = (
        "_accept_language",
        "_agent",
        "_country",
        "_language",
        "_local",
        "_now",
        "_query",
        "_query_string",
        "_scan_number",
        "_visitor",
        "user_agent",
    )

    def __init__(self, *, user_agent: str | None, country: str | None,
                 accept_language: str | None, query_string: str = "",
                 now: Callable[[], datetime], scan_number: Callable[[], int],
                 visitor: Callable[[], str]):
        self.user_agent = user_agent
        self._country = country
        self._accept_language = accept_language
        self._query_string = query_string
        self._now = now
        self._scan_number = scan_number
        self._visitor = visitor
        self._agent = self._language = self._query = self._local = _UNSET

    def agent(self) -> tuple[str | None, str | None, str | None]:
        if self._agent is _UNSET:
            self._agent = agent_facts(self.user_agent)
        return self._agent

    def country(self) -> str | None:
        return country_of(self._country)

    def language(self) -> str | None:
        if self._language is _UNSET:
            self._language = language_of(self._accept_language)
        return self._language

    def query(self) -> dict[str, list[str]]:
        if self._query is _UNSET:
            self._query = parse_qs(self._query_string[:4096], keep_blank_values=True)
        return self._query

    def local_time(self, tz: ZoneInfo) -> datetime:
        if self._local is _UNSET:
            self._local = self._now().astimezone(tz)
        return self._local

    def scan_number(self) -> int:
        if callable(self._scan_number):
            self._scan_number = self._scan_number()
        return self._scan_number

    def visitor(self) -> str:
        if callable(self._visitor):
            self._visitor = self._visitor()
        return self._visitor


# -- evaluation ----------------------------------------------------------------------------------

Check = Callable[[Visit], bool]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _check(kind: str, value: Any, tz: ZoneInfo) -> Check:
    """One condition as a function of the visit."""
    if kind in ("device", "os", "browser"):
        position = ("device", "os", "browser").index(kind)
        allowed = frozenset(value)
        return lambda visit: visit.agent()[position] in allowed
    if kind == "country":
        countries = frozenset(value)
        return lambda visit: visit.country() in countries
    if kind == "language":
        languages = frozenset(value)
        return lambda visit: visit.language() in languages
    if kind == "weekdays":
        days = frozenset(WEEKDAYS.index(day) for day in value)
        return lambda visit: visit.local_time(tz).weekday() in days
    if kind == "time":
        start, end = _minutes(value["from"]), _minutes(value["to"])

        def in_window(visit: Visit) -> bool:
            local = visit.local_time(tz)
            now = local.hour * 60 + local.minute
            return start <= now < end if start < end else (now >= start or now < end)
        return in_window
    if kind == "dates":
        first = date.fromisoformat(value["from"]) if value.get("from") else date.min
        last = date.fromisoformat(value["to"]) if value.get("to") else date.max
        return lambda visit: first <= visit.local_time(tz).date() <= last
    if kind == "query":
        wanted = tuple((param["name"], param.get("value")) for param in value)

        def has_param(visit: Visit) -> bool:
            query = visit.query()
            return any(name in query and (expected is None or expected in query[name])
                       for name, expected in wanted)
        return has_param
    if kind == "scans":
        first = int(value["first"])
        return lambda visit: visit.scan_number() <= first
    raise ValueError(f"unknown condition {kind!r}")


# Scans ask about the counter only after every cheaper condition of the rule held.
_LAST = {"scans": 1}


def _compile(entry: dict[str, Any]) -> tuple[tuple, tuple, int, bool]:
    tz = zone(entry.get("time_zone"))
    rules = tuple(
        (tuple(_check(kind, rule["when"][kind], tz)
               for kind in sorted(rule["when"], key=lambda k: _LAST.get(k, 0))),
         rule["target"], rule["id"])
        for rule in entry.get("rules") or ())
    variants, total = [], 0
    for variant in entry.get("variants") or ():
        total += int(variant["weight"])
        variants.append((total, variant["target"], variant["id"]))
    counts_scans = any("scans" in rule["when"] for rule in entry.get("rules") or ())
    return rules, tuple(variants), total, counts_scans


def compiled(entry: dict[str, Any]) -> tuple[tuple, tuple, int, bool]:
    """The entry's rules and variants as closures, and whether a rule counts scans; kept on
    the (in-process) entry itself."""
    found = entry.get("_compiled")
    if found is None:
        found = entry["_compiled"] = _compile(entry)
    return found


def route(entry: dict[str, Any], visit: Visit) -> tuple[str, str | None, str | None]:
    """Where this visit goes: (target, the matched rule's id, the chosen variant's id)."""
    if not entry.get("rules") and not entry.get("variants") and not entry.get("app"):
        return entry["target"], None, None
    rules, variants, total, _counts = compiled(entry)
    for checks, target, rule_id in rules:
        for check in checks:
            if not check(visit):
                break
        else:
            return target, rule_id, None
    app = entry.get("app")
    if app and (opens := app.get(visit.agent()[1])):
        return opens["target"], None, None
    if total:
        bucket = int(visit.visitor()[:12], 16) % total
        for upper, target, variant_id in variants:
            if bucket < upper:
                return target, None, variant_id
    return entry["target"], None, None


# -- conversions of A/B variants ----------------------------------------------------------------
#
# A variant whose destination is one of the platform's own pages (a published microsite,
# /m/...) or tracked links (another dynamic code's short link, /r/...) is sent there with
# ``qrp_v=<code id>.<variant id>``. The page keeps it in a cookie of its own path for the
# day and puts it on its clicks; the tracked link puts it on its scan. Analytics counts
# those, by people, as the variant's conversions. Nothing about the person travels.

VIA_PARAM = "qrp_v"
VIA = re.compile(r"^([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{1,16})$")
TRACKED_PATHS = ("/m/", "/r/")
# On the workspace's own custom domains every address is a tracked page (the root and /m/...
# show microsites, any other path is a short link) but the static files.
UNTRACKED_ON_DOMAINS = ("/static/", "/microsites/static/", "/domains/static/")


def tracked_target(target: str, code_id: int, variant_id: str, own_hosts,
                   own_domains=frozenset()) -> str:
    """The variant's target, marked with the variant when it is one of our tracked pages:
    on the platform's hosts (``own_hosts``) or on the code's workspace's own domains."""
    parts = urlsplit(target)
    if parts.hostname in own_domains:
        tracked = not parts.path.startswith(UNTRACKED_ON_DOMAINS)
    else:
        tracked = parts.hostname in own_hosts and parts.path.startswith(TRACKED_PATHS)
    if not tracked:
        return target
    marker = f"{VIA_PARAM}={code_id}.{variant_id}"
    query = f"{parts.query}&{marker}" if parts.query else marker
    return parts._replace(query=query).geturl()


def via_of(query_string: str) -> str | None:
    """The variant a visit was sent by (``<code id>.<variant id>``), from the query string."""
    if VIA_PARAM + "=" not in query_string:  # the common case: no parsing
        return None
    found = parse_qs(query_string).get(VIA_PARAM)
    return found[-1] if found and VIA.match(found[-1]) else None


def parse_via(value: Any) -> tuple[int, str] | None:
    """(code id, variant id) of a marker, None when it is not one."""
    found = VIA.match(value) if isinstance(value, str) else None
    return (int(found.group(1)), found.group(2)) if found else None


def is_web(target: str) -> bool:
    return target.startswith(("https://", "http://"))


def app_target(entry: dict[str, Any], target: str) -> str | None:
    """The fallback of an app's own scheme the visit is sent to (a page tries the app, then
    goes there); None when ``target`` is a web address (a plain redirect)."""
    if is_web(target):
        return None
    for opens in (entry.get("app") or {}).values():
        if opens["target"] == target:
            return opens["fallback"]
    return entry["target"]


def app_entry(app_link: dict[str, Any] | None, web: str) -> dict[str, Any]:
    """The cached form of an app link: per OS, where to send the phone and its fallback."""
    found = {}
    for os_name, spec in (app_link or {}).items():
        target = spec.get("app") or spec["store"]
        found[os_name] = {"target": target, "fallback": spec.get("store") or web}
    return found


# -- validation ---------------------------------------------------------------------------------

def _destination(value: Any, errors: list[str]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.append("Give the destination: a web address starting with https:// or http://.")
        return None
    value = value.strip()
    parts = urlsplit(value)
    if len(value) > MAX_DESTINATION:
        errors.append(f"At most {MAX_DESTINATION} characters.")
    elif parts.scheme not in {"http", "https"} or not parts.netloc or re.search(r"\s", value):
        errors.append("Enter a full web address starting with https:// or http://.")
    else:
        try:
            urls.ascii_url(value)
        except urls.InvalidAddress as exc:
            errors.append(f"Check the address: {exc}")
    return value


APP_OSES = ("ios", "android")
APP_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{0,31}):[^\s]+$")
# Schemes a page could be made to run or read through, never an app's.
UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about",
                            "filesystem", "view-source", "chrome", "ws", "wss", "ftp"})


def _app_url(value: Any, errors: list[str]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.append("Give the app's link: a universal or app link (https://...) or the "
                      "app's own scheme (myapp://...).")
        return None
    value = value.strip()
    found = APP_SCHEME.match(value.lower())
    if len(value) > MAX_DESTINATION:
        errors.append(f"At most {MAX_DESTINATION} characters.")
    elif is_web(value.lower()):
        _destination(value, errors)
    elif not found or found.group(1) in UNSAFE_SCHEMES or any(ord(ch) < 32 for ch in value):
        errors.append("Use an app link such as myapp://path or https://... (no spaces; "
                      "javascript:, data: and file: are not app links).")
    return value


def clean_app_link(value: Any) -> dict[str, Any]:
    """``{"ios": {"app"?, "store"?}, "android": {...}}``, at least one OS, each with at least
    one of the two; the store link is a web address."""
    if not isinstance(value, dict) or set(value) - set(APP_OSES):
        raise RulesError({"app_link": ['Give {"ios": {"app": ..., "store": ...}, "android": '
                                       '{...}}.']})
    cleaned, errors = {}, {}
    for os_name in APP_OSES:
        spec = value.get(os_name)
        if spec in (None, {}):
            continue
        if not isinstance(spec, dict) or set(spec) - {"app", "store"} or not (
                spec.get("app") or spec.get("store")):
            errors[f"app_link.{os_name}"] = ['Give {"app": ..., "store": ...} (either may be '
                                             'left out, not both).']
            continue
        entry = {}
        for part, clean in (("app", _app_url), ("store", _destination)):
            if spec.get(part):
                mistakes: list[str] = []
                entry[part] = clean(spec[part], mistakes)
                if mistakes:
                    errors[f"app_link.{os_name}.{part}"] = mistakes
        cleaned[os_name] = entry
    if errors:
        raise RulesError(errors)
    return cleaned


def _clean_list(kind: str, value: Any) -> tuple[list[str] | None, list[str]]:
    limit = MAX_COUNTRIES if kind == "country" else MAX_VALUES
    if not isinstance(value, list) or not value:
        return None, ["Give a non-empty list."]
    if len(value) > limit:
        return None, [f"At most {limit} values."]
    if not all(isinstance(item, str) for item in value):
        return None, ["Give a list of strings."]
    if kind == "country":
        cleaned = [item.strip().upper() for item in value]
        bad = [item for item in cleaned if not COUNTRY.match(item)]
        message = "Use two-letter ISO 3166 country codes such as DE or US"
    elif kind == "language":
        cleaned = [item.strip().lower().split("-", 1)[0] for item in value]
        bad = [item for item in cleaned if not LANGUAGE.match(item)]
        message = "Use language codes such as de, en or pt"
    else:
        cleaned = [item.strip().lower() for item in value]
        bad = [item for item in cleaned if item not in LIST_CONDITIONS[kind]]
        message = f"Use {', '.join(LIST_CONDITIONS[kind])}"
    if bad:
        return None, [f"{message} (not {', '.join(repr(b[:20]) for b in bad[:3])})."]
    return list(dict.fromkeys(cleaned)), []


def _clean_time(value: Any) -> tuple[Any, list[str]]:
    if not isinstance(value, dict) or set(value) - {"from", "to"}:
        return None, ['Give {"from": "HH:MM", "to": "HH:MM"}.']
    start, end = value.get("from"), value.get("to")
    if not all(isinstance(v, str) and HHMM.match(v) for v in (start, end)):
        return None, ["Give both times as HH:MM, 24-hour (00:00 to 23:59)."]
    if start == end:
        return None, ["The window is empty: its start and end are the same time."]
    return {"from": start, "to": end}, []


def _clean_dates(value: Any) -> tuple[Any, list[str]]:
    if not isinstance(value, dict) or set(value) - {"from", "to"} or not (
            value.get("from") or value.get("to")):
        return None, ['Give {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"} (either may be '
                      'left out).']
    cleaned = {}
    for end in ("from", "to"):
        if value.get(end):
            try:
                cleaned[end] = date.fromisoformat(str(value[end])[:10]).isoformat()
            except ValueError:
                return None, [f"“{end}” is not a date (YYYY-MM-DD)."]
    if cleaned.get("from") and cleaned.get("to") and cleaned["from"] > cleaned["to"]:
        return None, ["The range ends before it starts."]
    return cleaned, []


def _clean_query(value: Any) -> tuple[Any, list[str]]:
    if not isinstance(value, list) or not value or len(value) > MAX_QUERY_PARAMS:
        return None, [f"Give 1 to {MAX_QUERY_PARAMS} parameters: "
                      '[{"name": ..., "value": ...}] (value optional).']
    cleaned = []
    for param in value:
        if not isinstance(param, dict) or set(param) - {"name", "value"}:
            return None, ['Each parameter is {"name": ..., "value": ...}.']
        name, wanted = param.get("name"), param.get("value")
        if not isinstance(name, str) or not PARAM_NAME.match(name):
            return None, ["A parameter name has 1 to 100 characters, no spaces, & = or #."]
        if wanted is not None and (not isinstance(wanted, str) or len(wanted) > 200):
            return None, ["A parameter value is text of at most 200 characters."]
        cleaned.append({"name": name} if wanted is None else {"name": name, "value": wanted})
    return cleaned, []


def _clean_scans(value: Any) -> tuple[Any, list[str]]:
    first = value.get("first") if isinstance(value, dict) else None
    if not isinstance(value, dict) or set(value) - {"first"} or not isinstance(
            first, int) or isinstance(first, bool) or not 1 <= first <= MAX_FIRST_SCANS:
        return None, ["The first N scans: a whole number N from 1 to 1000000000 "
                      '({"first": N}).']
    return {"first": first}, []


_CLEANERS = {"time": _clean_time, "dates": _clean_dates, "query": _clean_query,
             "scans": _clean_scans}


def _clean_condition(kind: str, value: Any) -> tuple[Any, list[str]]:
    if kind in _CLEANERS:
        return _CLEANERS[kind](value)
    return _clean_list(kind, value)


def _clean_id(value: Any, taken: set[str], errors: list[str]) -> str:
    if value is None:
        value = secrets.token_hex(4)
        while value in taken:
            value = secrets.token_hex(4)
    elif not isinstance(value, str) or not ID.match(value):
        errors.append("An id has 1 to 16 letters, digits, - or _.")
    elif value in taken:
        errors.append("Two entries have the same id.")
    taken.add(str(value))
    return value


def _clean_name(value: Any, errors: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        errors.append(f"A name is text of at most {MAX_NAME} characters.")
        return None
    return value.strip() or None


def _clean_rule(n: int, rule: Any, taken: set[str], errors: dict[str, list[str]]
                ) -> dict[str, Any] | None:
    if not isinstance(rule, dict):
        errors[f"rules.{n}"] = ['Each rule is {"when": {...}, "destination": ...}.']
        return None
    mistakes: list[str] = []
    unknown = set(rule) - {"id", "name", "when", "destination"}
    if unknown:
        mistakes.append(f"Unknown field(s): {', '.join(sorted(map(str, unknown))[:5])}.")
    rule_id = _clean_id(rule.get("id"), taken, mistakes)
    name = _clean_name(rule.get("name"), mistakes)
    if mistakes:
        errors[f"rules.{n}"] = mistakes
    where: list[str] = []
    destination = _destination(rule.get("destination"), where)
    if where:
        errors[f"rules.{n}.destination"] = where
    when = rule.get("when")
    if not isinstance(when, dict):
        errors[f"rules.{n}.when"] = ["Give the conditions as an object, e.g. "
                                     '{"os": ["ios"]} ({} matches every scan).']
        return None
    conditions = {}
    for kind in CONDITIONS:
        if kind in when:
            value, problems = _clean_condition(kind, when[kind])
            if problems:
                errors[f"rules.{n}.when.{kind}"] = problems
            conditions[kind] = value
    for kind in set(when) - set(CONDITIONS):
        errors[f"rules.{n}.when.{str(kind)[:30]}"] = [
            f"Unknown condition; use {', '.join(CONDITIONS)}."]
    return {"id": rule_id, **({"name": name} if name else {}), "when": conditions,
            "destination": destination}


def clean_rules(rules: Any) -> list[dict[str, Any]]:
    """The rules, checked and normalised (ids given to new ones); raises ``RulesError``."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise RulesError({"rules": ["Give a list of rules."]})
    if len(rules) > MAX_RULES:
        raise RulesError({"rules": [f"At most {MAX_RULES} rules."]})
    errors: dict[str, list[str]] = {}
    taken: set[str] = set()
    cleaned = [_clean_rule(n, rule, taken, errors) for n, rule in enumerate(rules)]
    if errors:
        raise RulesError(errors)
    return cleaned


def clean_variants(variants: Any) -> list[dict[str, Any]]:
    """The A/B variants, checked (none, or 2 to MAX_VARIANTS); raises ``RulesError``."""
    if not variants:
        return []
    if not isinstance(variants, list):
        raise RulesError({"variants": ["Give a list of variants."]})
    if not 2 <= len(variants) <= MAX_VARIANTS:
        raise RulesError({"variants": [f"Split between 2 and {MAX_VARIANTS} destinations "
                                       "(or give none)."]})
    errors: dict[str, list[str]] = {}
    cleaned, taken = [], set()
    for n, variant in enumerate(variants):
        if not isinstance(variant, dict):
            errors[f"variants.{n}"] = ['Each variant is {"destination": ..., "weight": N}.']
            continue
        mistakes: list[str] = []
        unknown = set(variant) - {"id", "name", "destination", "weight"}
        if unknown:
            mistakes.append(f"Unknown field(s): {', '.join(sorted(map(str, unknown))[:5])}.")
        variant_id = _clean_id(variant.get("id"), taken, mistakes)
        name = _clean_name(variant.get("name"), mistakes)
        if mistakes:
            errors[f"variants.{n}"] = mistakes
        where: list[str] = []
        destination = _destination(variant.get("destination"), where)
        if where:
            errors[f"variants.{n}.destination"] = where
        weight = variant.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not (
                1 <= weight <= MAX_WEIGHT):
            errors[f"variants.{n}.weight"] = [f"A whole number from 1 to {MAX_WEIGHT}."]
        cleaned.append({"id": variant_id, **({"name": name} if name else {}),
                        "destination": destination, "weight": weight})
    if errors:
        raise RulesError(errors)
    return cleaned


# -- rules that can never match -----------------------------------------------------------------

def _covers(earlier: dict[str, Any], later: dict[str, Any]) -> bool:
    """Whether every scan ``later`` matches is matched by ``earlier`` already."""
    for kind, value in earlier.items():
        if kind not in later:
            return False
        if kind in ("device", "os", "browser", "country", "language", "weekdays"):
            if not set(later[kind]) <= set(value):
                return False
        elif kind == "scans":
            if later[kind]["first"] > value["first"]:
                return False
        elif kind == "query":
            if not all(param in value for param in later[kind]):
                return False
        elif later[kind] != value:
            return False
    return True


def warnings(rules: list[dict[str, Any]], today: date | None = None) -> list[dict[str, Any]]:
    """Rules that can never match, each ``{"rule": index, "id", "message"}``, in order."""
    found = []
    for n, rule in enumerate(rules):
        when = rule["when"]
        message = None
        shadow = next((m for m in range(n) if _covers(rules[m]["when"], when)), None)
        if shadow is not None:
            message = (f"Never matches: rule {shadow + 1} above it matches every scan this one "
                       "would.")
        elif "device" in when and set(when["device"]) == {"desktop"} and "os" in when and set(
                when["os"]) <= MOBILE_OSES:
            message = "Never matches: a desktop computer does not run iOS or Android."
        elif today is not None and (when.get("dates") or {}).get("to") and (
                when["dates"]["to"] < today.isoformat()):
            message = "Never matches again: its date range has ended."
        if message:
            found.append({"rule": n, "id": rule["id"], "message": message})
    return found


def explain(rules: list[dict[str, Any]], variants: list[dict[str, Any]], destination: str,
            *, user_agent: str | None = None, device: str | None = None,
            os: str | None = None, browser: str | None = None, country: str | None = None,
            language: str | None = None, at: datetime, query: str = "",
            scan_number: int = 1, time_zone: str | None = None,
            app_link: dict[str, Any] | None = None) -> dict[str, Any]:
    """Which rule a described scan would match ("test a scan"): device, OS and browser given
    outright override what the user agent says. The variants' pick is not sticky here: the
    answer names the split instead."""
    entry = {"rules": [{**rule, "target": rule["destination"]} for rule in rules],
             "variants": [], "target": destination, "time_zone": time_zone,
             "app": app_entry(app_link, destination)}
    facts = agent_facts(user_agent) if user_agent else (None, None, None)
    facts = (device or facts[0], os or facts[1], browser or facts[2])
    visit = Visit(user_agent=user_agent, country=country, accept_language=language,
                  query_string=query, now=lambda: at, scan_number=lambda: scan_number,
                  visitor=lambda: "0" * 12)
    visit._agent = facts
    target, rule_id, _variant = route(entry, visit)
    index = next((n for n, rule in enumerate(rules) if rule["id"] == rule_id), None)
    return {"rule": index, "rule_id": rule_id, "destination": target,
            "variants": variants if rule_id is None and variants else [],
            "local_time": at.astimezone(zone(time_zone)).isoformat(timespec="minutes"),
            "facts": {"device": facts[0], "os": facts[1], "browser": facts[2],
                      "country": country_of(country), "language": language_of(language),
                      "query": query or None, "scan_number": scan_number}}


def local_today(time_zone: str | None, now: datetime) -> date:
    return now.astimezone(zone(time_zone)).date()


def valid_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True

