"""The analytics pages are reachable from where people look at a code."""


def test_a_dynamic_codes_page_links_to_its_insights(client, api, create_user, login):
    user = create_user()
    caller = api(user)
    dynamic = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com"}).json
    static = caller.post("/api/v1/qr-codes", json={
        "type": "text", "kind": "static", "content": {"text": "hello"}}).json
    login(user)
    assert f'href="/analytics/codes/{dynamic["id"]}"' in client.get(
        f"/qr/{dynamic['id']}").get_data(as_text=True)
    assert "/analytics/codes/" not in client.get(f"/qr/{static['id']}").get_data(as_text=True)
    assert client.get(f"/analytics/codes/{dynamic['id']}").status_code == 200
