"""The editor's redirect rules through the page's own form: cards saved in their order with
their conditions, conditions only the API sets kept, the "test a scan" box and warnings."""

import html
import re

from werkzeug.datastructures import MultiDict

from qrplatform.testing.pytest_plugin import csrf_token
from tests.qr.test_redirect import make_code

BASE = {"name": "Rules", "kind": "dynamic", "type": "url",
        "content-url-url": "https://example.com/web", "foreground": "#000000",
        "background": "#ffffff", "module_style": "square", "eye_style": "square",
        "error_correction": "M", "quiet_zone": "4", "logo_size": "0.22", "frame": "none",
        "redirect_status": "302", "design_template": "0", "rules-present": "1"}


def cards(*rules):
    """Form fields for rule cards, in order: each (key, {field: value or [values]})."""
    data = []
    for key, fields in rules:
        data.append(("rule-key", key))
        for name, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                data.append((f"rule-{key}-{name}", item))
    return data


def post(client, path, base, extra):
    return client.post(path, data=MultiDict(list(base.items()) + extra))


def test_rules_saved_from_the_editor_in_their_order(client, api, create_user, login):
    user = create_user()
    login(user)
    caller = api(user)
    token = csrf_token(client, "/qr/new")
    base = {**BASE, "csrf_token": token}
    created = post(client, "/qr/new", base, cards(
        ("b2", {"destination": "https://example.com/de", "country": "de, at"}),
        ("a1", {"destination": "https://example.com/ios", "os": ["ios"], "device": ["mobile"],
                "weekdays": ["sat", "sun"], "time-from": "18:00", "time-to": "06:00"})))
    assert created.status_code == 302, created.get_data(as_text=True)[:3000]
    code_id = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    saved = caller.get(f"/api/v1/qr-codes/{code_id}").json["rules"]
    assert [r["destination"] for r in saved] == ["https://example.com/de",
                                                 "https://example.com/ios"]
    assert saved[0]["when"] == {"country": ["DE", "AT"]}
    assert saved[1]["when"] == {"device": ["mobile"], "os": ["ios"], "weekdays": ["sat", "sun"],
                                "time": {"from": "18:00", "to": "06:00"}}

    # The API adds a condition the cards cannot show (a value with a comma); the page keeps
    # it and the ids.
    caller.patch(f"/api/v1/qr-codes/{code_id}", json={"rules": [
        {**saved[0], "when": {**saved[0]["when"], "query": [{"name": "src", "value": "a,b"}]}},
        saved[1]]})
    page = client.get(f"/qr/{code_id}/edit").get_data(as_text=True)
    keys = re.findall(r'name="rule-key" value="([a-z0-9]+)"', page)
    assert len(keys) == 2 and "rule-__KEY__-destination" in page  # the blank template
    # Systems and browsers by their names; the values sent are the API's.
    assert re.search(r'value="samsung"[^>]*> Samsung Internet</label>', page)
    assert re.search(r'value="macos"[^>]*> macOS</label>', page)
    assert '<option value="macos">macOS</option>' in page
    # Reordered (the second card first) and saved again.
    form = dict(re.findall(r'name="(rule-[a-z0-9]+-(?:id|extra))" value="([^"]*)"', page))
    first, second = keys[0], keys[1]
    edited = post(client, f"/qr/{code_id}/edit", base, cards(
        (second, {"destination": "https://example.com/ios", "os": ["ios"],
                  "id": form[f"rule-{second}-id"]}),
        (first, {"destination": "https://example.com/de", "country": "DE",
                 "id": form[f"rule-{first}-id"],
                 "extra": html.unescape(form[f"rule-{first}-extra"])})))
    assert edited.status_code == 302, edited.get_data(as_text=True)[:3000]
    again = caller.get(f"/api/v1/qr-codes/{code_id}").json["rules"]
    assert [r["id"] for r in again] == [saved[1]["id"], saved[0]["id"]]
    assert again[1]["when"] == {"country": ["DE"], "query": [{"name": "src", "value": "a,b"}]}

    # Deleting every card removes the rules.
    assert post(client, f"/qr/{code_id}/edit", base, []).status_code == 302
    assert caller.get(f"/api/v1/qr-codes/{code_id}").json["rules"] == []


def test_query_parameters_and_first_scans_are_edited_on_the_cards(client, api, create_user,
                                                                  login):
    user = create_user()
    login(user)
    caller = api(user)
    base = {**BASE, "csrf_token": csrf_token(client, "/qr/new")}
    created = post(client, "/qr/new", base, cards(
        ("q1", {"destination": "https://example.com/flyer", "query": "src=flyer, ref"}),
        ("s1", {"destination": "https://example.com/early", "scans-first": "100"})))
    assert created.status_code == 302, created.get_data(as_text=True)[:3000]
    code_id = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    saved = caller.get(f"/api/v1/qr-codes/{code_id}").json["rules"]
    assert saved[0]["when"] == {"query": [{"name": "src", "value": "flyer"}, {"name": "ref"}]}
    assert saved[1]["when"] == {"scans": {"first": 100}}

    # The cards show them again (and nothing is left over as an API-only condition).
    page = client.get(f"/qr/{code_id}/edit").get_data(as_text=True)
    keys = re.findall(r'name="rule-key" value="([a-z0-9]+)"', page)
    assert f'name="rule-{keys[0]}-query" value="src=flyer, ref"' in page
    assert f'name="rule-{keys[1]}-scans-first" value="100"' in page
    assert "Also keeps conditions set through the API" not in page

    # Changed and cleared on the cards: a blank field removes the condition.
    edited = post(client, f"/qr/{code_id}/edit", base, cards(
        (keys[0], {"destination": "https://example.com/flyer", "query": "utm_source=print",
                   "scans-first": "5"}),
        (keys[1], {"destination": "https://example.com/early", "scans-first": ""})))
    assert edited.status_code == 302, edited.get_data(as_text=True)[:3000]
    again = caller.get(f"/api/v1/qr-codes/{code_id}").json["rules"]
    assert again[0]["when"] == {"query": [{"name": "utm_source", "value": "print"}],
                                "scans": {"first": 5}}
    assert again[1]["when"] == {}

    # Bad values are named on the card, the typed values come back.
    refused = post(client, f"/qr/{code_id}/edit", base, cards(
        ("b1", {"destination": "https://example.com/x", "scans-first": "0"}),
        ("b2", {"destination": "https://example.com/y", "query": "a b=1"})))
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "Rule 1:" in text and "Rule 2:" in text and 'value="a b=1"' in text


def test_the_test_box_reads_query_and_scan_number_and_warns_about_them(client, api,
                                                                       create_user, login):
    login(create_user())
    base = {**BASE, "csrf_token": csrf_token(client, "/qr/new")}
    rules = cards(("e1", {"destination": "https://example.com/early", "scans-first": "100"}),
                  ("e2", {"destination": "https://example.com/earlier", "scans-first": "10"}),
                  ("f1", {"destination": "https://example.com/flyer", "query": "src=flyer"}),
                  ("f2", {"destination": "https://example.com/flyer2",
                          "query": "src=flyer", "country": "DE"}))
    early = post(client, "/qr/rules-test", {**base, "test-scan-number": "7"}, rules)
    text = early.get_data(as_text=True)
    assert "Rule 1</strong> wins" in text and "scan number 7" in text
    # The first 10 are among the first 100: rule 2 can never match; so rule 4 after rule 3.
    assert "Rule 2: Never matches: rule 1 above it" in text
    assert "Rule 4: Never matches: rule 3 above it" in text
    late = post(client, "/qr/rules-test", {**base, "test-scan-number": "500",
                                           "test-query": "?src=flyer&x=1"}, rules)
    text = late.get_data(as_text=True)
    assert "Rule 3</strong> wins" in text and "https://example.com/flyer" in text
    nothing = post(client, "/qr/rules-test", {**base, "test-scan-number": "500",
                                              "test-query": "src=poster"}, rules)
    assert "No rule matches" in nothing.get_data(as_text=True)


def test_a_bad_rule_is_named_and_the_cards_come_back(client, create_user, login):
    login(create_user())
    base = {**BASE, "csrf_token": csrf_token(client, "/qr/new")}
    refused = post(client, "/qr/new", base, cards(
        ("k1", {"destination": "https://example.com/ok", "os": ["ios"]}),
        ("k2", {"destination": "not an address", "country": "Germany"})))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Rule 2:" in page
    assert 'value="not an address"' in page and 'value="Germany"' in page


def test_the_test_box_says_which_rule_wins_and_warns_about_dead_rules(client, api,
                                                                       create_user, login):
    user = create_user()
    login(user)
    code = make_code(api(user), rules=[{"when": {"os": ["ios"]},
                                        "destination": "https://example.com/ios"}])
    page = client.get(f"/qr/{code['id']}/edit").get_data(as_text=True)
    assert "Redirect rules" in page and "Test a scan" in page
    base = {**BASE, "csrf_token": csrf_token(client, "/qr/new"), "rules-code": str(code["id"])}
    rules = cards(("c1", {"destination": "https://example.com/de", "country": "DE"}),
                  ("c2", {"destination": "https://example.com/all"}),
                  ("c3", {"destination": "https://example.com/ios", "os": ["ios"]}),
                  ("c4", {"destination": "https://example.com/xmas",
                          "dates-from": "2020-12-01", "dates-to": "2020-12-24"}))
    answer = post(client, "/qr/rules-test", {**base, "test-os": "ios", "test-country": "FR",
                                             "test-at": "2026-12-03T10:00"}, rules)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Rule 2</strong> wins" in text and "https://example.com/all" in text
    assert "Rule 3: Never matches: rule 2 above it" in text
    assert "Rule 4: Never matches" in text
    german = post(client, "/qr/rules-test", {**base, "test-country": "DE"}, rules)
    assert "Rule 1</strong> wins" in german.get_data(as_text=True)
    nothing = post(client, "/qr/rules-test", {**base, "test-country": "FR"}, cards(
        ("c1", {"destination": "https://example.com/de", "country": "DE"})))
    assert "No rule matches" in nothing.get_data(as_text=True)
    bad = post(client, "/qr/rules-test", {**base, "test-at": "yesterday"}, rules)
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.get_data(as_text=True)

    # Saved dead rules are marked on the page itself.
    api(user).patch(f"/api/v1/qr-codes/{code['id']}", json={"rules": [
        {"when": {}, "destination": "https://example.com/all"},
        {"when": {"os": ["ios"]}, "destination": "https://example.com/ios"}]})
    page = client.get(f"/qr/{code['id']}/edit").get_data(as_text=True)
    assert "Never matches: rule 1 above it" in page


def test_another_workspaces_code_cannot_be_tested(client, api, create_user, login):
    other = make_code(api())
    login(create_user())
    base = {**BASE, "csrf_token": csrf_token(client, "/qr/new"), "rules-code": str(other["id"])}
    answer = post(client, "/qr/rules-test", base, [])
    assert other["destination"] not in answer.get_data(as_text=True)
    assert answer.status_code in (200, 404)


def variants(*rows):
    """Form fields for A/B split rows: each (key, {field: value})."""
    data = [("variants-present", "1")]
    for key, fields in rows:
        data.append(("variant-key", key))
        data.extend((f"variant-{key}-{name}", value) for name, value in fields.items())
    return data


def test_the_ab_split_is_edited_on_the_page(client, api, create_user, login):
    user = create_user()
    login(user)
    caller = api(user)
    base = {**BASE, "csrf_token": csrf_token(client, "/qr/new")}
    created = post(client, "/qr/new", base, variants(
        ("v1", {"name": "Spring", "destination": "https://example.com/a", "weight": "50"}),
        ("v2", {"destination": "https://example.com/b", "weight": "30"}),
        ("v3", {"destination": "https://example.com/c", "weight": "20"}),
        ("v4", {"name": "", "destination": "", "weight": ""})))  # a blank row: left out
    assert created.status_code == 302, created.get_data(as_text=True)[:3000]
    code_id = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    saved = caller.get(f"/api/v1/qr-codes/{code_id}").json["variants"]
    assert [(v.get("name"), v["destination"], v["weight"]) for v in saved] == [
        ("Spring", "https://example.com/a", 50), (None, "https://example.com/b", 30),
        (None, "https://example.com/c", 20)]

    # The page shows the rows again, with their ids; one removed and one changed on save.
    page = client.get(f"/qr/{code_id}/edit").get_data(as_text=True)
    keys = re.findall(r'name="variant-key" value="([a-z0-9]+)"', page)
    ids = dict(re.findall(r'name="(variant-[a-z0-9]+-id)" value="([^"]*)"', page))
    assert len(keys) == 3 and 'value="Spring"' in page and "variant-__KEY__-weight" in page
    edited = post(client, f"/qr/{code_id}/edit", base, variants(
        (keys[0], {"id": ids[f"variant-{keys[0]}-id"], "name": "Spring",
                   "destination": "https://example.com/a", "weight": "70"}),
        (keys[2], {"id": ids[f"variant-{keys[2]}-id"],
                   "destination": "https://example.com/c", "weight": "30"})))
    assert edited.status_code == 302, edited.get_data(as_text=True)[:3000]
    again = caller.get(f"/api/v1/qr-codes/{code_id}").json["variants"]
    assert [(v["id"], v["weight"]) for v in again] == [(saved[0]["id"], 70),
                                                        (saved[2]["id"], 30)]

    # The test box says the split decides when no rule matches.
    answer = post(client, "/qr/rules-test", {**base, "rules-code": str(code_id)},
                  variants((keys[0], {"destination": "https://example.com/a", "weight": "1"}),
                           (keys[1], {"destination": "https://example.com/b", "weight": "1"})))
    assert "the A/B split decides" in answer.get_data(as_text=True)
    # A split of one is named there too (a split needs two destinations).
    single = post(client, "/qr/rules-test", {**base, "rules-code": str(code_id)},
                  variants((keys[0], {"destination": "https://example.com/a", "weight": "1"})))
    assert "Split between 2 and 10" in single.get_data(as_text=True)

    # A bad weight is named with its variant; the typed rows come back.
    refused = post(client, f"/qr/{code_id}/edit", base, variants(
        ("b1", {"destination": "https://example.com/a", "weight": "0"}),
        ("b2", {"destination": "not an address", "weight": "10"})))
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "Variant 1:" in text and "Variant 2:" in text and 'value="not an address"' in text

    # No rows: the split is removed.
    assert post(client, f"/qr/{code_id}/edit", base, variants()).status_code == 302
    assert caller.get(f"/api/v1/qr-codes/{code_id}").json["variants"] == []
