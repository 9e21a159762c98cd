"""International links: stored as typed, redirected to their ASCII form (IDNA host,
percent-encoded path and query), shown with the punycode host and a homograph warning."""

import pytest

from qrplatform.testing.pytest_plugin import csrf_token

TYPED = "https://exämple.com/pfad/äöü/日本?q=ü&x=1#teil"
ASCII = ("https://xn--exmple-cua.com/pfad/%C3%A4%C3%B6%C3%BC/%E6%97%A5%E6%9C%AC"
         "?q=%C3%BC&x=1#teil")


def make(caller, destination):
    response = caller.post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                                     "destination": destination})
    assert response.status_code == 201, response.json
    return response.json


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_non_ascii_destination_redirects_to_its_ascii_form(make_app, create_user, fast_path):
    app = make_app(QR_REDIRECT_FAST_PATH=fast_path)
    from qrplatform.auth import services

    user = create_user()
    _token, plain = services.create_token(user, user.personal_workspace_id, "t")
    client = app.test_client()
    caller_headers = {"Authorization": f"Bearer {plain}"}
    code = client.post("/api/v1/qr-codes", headers=caller_headers, json={
        "type": "url", "kind": "dynamic", "destination": TYPED}).json
    assert code["destination"] == TYPED  # what the person typed
    scan = client.get(f"/r/{code['short_code']}")
    assert scan.status_code == 302
    assert scan.headers["Location"] == ASCII


def test_already_encoded_parts_stay_as_they_are(api, client):
    code = make(api(), "https://example.com/a%20b/c?d=%26e")
    assert client.get(f"/r/{code['short_code']}").headers["Location"] == \
        "https://example.com/a%20b/c?d=%26e"


def test_a_host_that_is_no_valid_idn_is_refused(api):
    response = api().post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                                    "destination": "https://a\u200bb..com/"})
    assert response.status_code == 422


def test_the_editor_shows_the_punycode_and_warns_of_mixed_scripts(api, client, login,
                                                                  create_user):
    user = create_user()
    caller = api(user)
    login(user)
    plain_idn = make(caller, TYPED)
    page = client.get(f"/qr/{plain_idn['id']}/edit").get_data(as_text=True)
    assert "xn--exmple-cua.com" in page
    assert "mixes scripts" not in page
    lookalike = make(caller, "https://\u0430pple.com/login")  # Cyrillic a, then Latin
    page = client.get(f"/qr/{lookalike['id']}/edit").get_data(as_text=True)
    assert "xn--pple-43d.com" in page
    assert "mixes scripts" in page and "Cyrillic" in page and "Latin" in page
    assert csrf_token(client, f"/qr/{lookalike['id']}/edit")
