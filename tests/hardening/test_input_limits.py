"""Input that never answers 500: every id, page, date, number and string out of range or out
of shape gets a 4xx in the one error shape, and the OpenAPI document says what is allowed."""

import json

import pytest
from openapi_spec_validator import validate

from qrplatform.testing.pytest_plugin import csrf_token

BEYOND_INT = 2**31
BEYOND_BIGINT = 2**63 + 1


def assert_error_shape(response, status):
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    body = response.json["error"]
    assert body["status"] == status and body["message"] and "request_id" in body


def test_the_openapi_document_is_valid_openapi_3(client):
    document = client.get("/api/openapi.json").json
    validate(document)
    bulk = document["paths"]["/api/v1/qr-codes/bulk"]["post"]
    assert "multipart/form-data" in bulk["requestBody"]["content"]


def test_the_document_states_the_ranges(client):
    document = client.get("/api/openapi.json").json
    code = document["paths"]["/api/v1/qr-codes/{code_id}"]["parameters"]
    code_id = next(p for p in code if p["name"] == "code_id")
    assert code_id["schema"]["maximum"] == 2**31 - 1
    listing = document["paths"]["/api/v1/qr-codes"]["get"]["parameters"]
    page = next(p for p in listing if p["name"] == "page")
    assert page["schema"]["maximum"] >= 1000


def _int_rules(app):
    for rule in app.url_map.iter_rules():
        int_args = [name for name, conv in rule._converters.items()
                    if conv.regex == r"\d+"]
        if int_args:
            yield rule, int_args


@pytest.mark.parametrize("huge", [BEYOND_INT, BEYOND_BIGINT])
def test_an_id_beyond_int_is_not_found_on_every_route(app, api, login, client, create_user,
                                                      huge):
    user = create_user()
    caller = api(user)
    login(user)
    walked = 0
    for rule, int_args in _int_rules(app):
        values = {name: (huge if name in int_args else "x") for name in rule.arguments}
        path = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if path.startswith("/api/"):
                response = caller._call(method, path, json={})
                # 405 when another route takes the same path with other methods
                assert response.status_code in (404, 405), (method, path)
                assert_error_shape(response, response.status_code)
            else:
                response = client.open(path, method=method,
                                       data={"csrf_token": csrf_token(client, "/dashboard")})
                assert response.status_code == 404, (method, path, response.status_code)
            walked += 1
    assert walked >= 20


@pytest.mark.parametrize("query", [f"page={BEYOND_BIGINT}", f"page={BEYOND_INT}",
                                   f"per_page={BEYOND_BIGINT}", "page=-1"])
def test_a_page_beyond_range_is_refused(api, query):
    assert_error_shape(api().get(f"/api/v1/qr-codes?{query}"), 422)


def test_a_page_beyond_range_on_the_page_is_not_an_error(client, login, create_user):
    login(create_user())
    assert client.get(f"/qr/?page={BEYOND_BIGINT}").status_code in (200, 422)
    assert client.get("/qr/?page=abc").status_code in (200, 422)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_analytics_dates_at_the_ends_of_the_calendar_are_refused(api, day):
    caller = api()
    code = caller.post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                                 "destination": "https://example.com"}).json
    for response in (
        caller.get(f"/api/v1/analytics?start={day}"),
        caller.get(f"/api/v1/analytics?start=2024-01-01&end={day}"),
        caller.get(f"/api/v1/qr-codes/{code['id']}/analytics?end={day}&start={day}"),
        caller.post("/api/v1/analytics/exports", json={"kind": "scans", "start": day,
                                                       "end": day}),
        caller.get(f"/api/v1/teams/audit?since={day}&until={day}"),
    ):
        assert_error_shape(response, 422)


@pytest.mark.parametrize("field", ["scan_cap", "design_template_id"])
def test_numbers_beyond_int_in_a_code_are_refused(api, field):
    caller = api()
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com",
        field: BEYOND_INT})
    assert_error_shape(response, 422)
    assert field in response.json["error"]["fields"]
    code = caller.post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                                 "destination": "https://example.com"}).json
    assert_error_shape(caller.patch(f"/api/v1/qr-codes/{code['id']}",
                                    json={field: BEYOND_BIGINT}), 422)


def test_a_bulk_template_beyond_int_is_refused(api):
    import io
    response = api().post("/api/v1/qr-codes/bulk", data={
        "file": (io.BytesIO(b"destination\nhttps://example.com\n"), "codes.csv"),
        "design_template_id": str(BEYOND_INT)})
    assert_error_shape(response, 422)


@pytest.mark.parametrize("body", [
    {"type": "url", "kind": "dynamic", "destination": "https://example.com", "name": "a\x00b"},
    {"type": "url", "kind": "dynamic", "destination": "https://exa\x00mple.com"},
    {"type": "text", "content": {"text": "hello\x00"}},
])
def test_a_nul_byte_in_a_string_is_refused(api, body):
    assert_error_shape(api().post("/api/v1/qr-codes", json=body), 422)


def test_a_nul_byte_in_a_query_is_refused(api):
    assert_error_shape(api().get("/api/v1/qr-codes?q=a%00b"), 422)


def test_a_nul_byte_in_a_form_is_refused(client, login, create_user):
    login(create_user())
    response = client.post("/qr/new", data={"csrf_token": csrf_token(client, "/qr/new"),
                                            "name": "a\x00b", "type": "text", "kind": "static",
                                            "text": "x"})
    assert response.status_code in (400, 422)


def test_json_nested_50000_deep_is_refused(api):
    deep = "[" * 50_000 + "]" * 50_000
    response = api().post("/api/v1/qr-codes", data=deep,
                          headers={"Content-Type": "application/json"})
    assert_error_shape(response, 400)
    assert "nest" in response.json["error"]["message"]


def test_twenty_thousand_tags_are_refused_by_the_size_check(api):
    response = api().post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com",
        "tags": [f"t{i}" for i in range(20_000)]})
    assert_error_shape(response, 422)
    assert "tags" in response.json["error"]["fields"]


def test_a_body_above_the_route_cap_is_refused(api):
    tags = ["x"] * 1_500_000
    body = json.dumps({"type": "url", "destination": "https://example.com", "tags": tags})
    response = api().post("/api/v1/qr-codes", data=body,
                          headers={"Content-Type": "application/json"})
    assert_error_shape(response, 413)
    assert "bytes" in response.json["error"]["message"]
