"""The plan caps live dynamic codes; static codes and archived ones do not count."""

from qrplatform.testing.pytest_plugin import set_plan


def dynamic(n: int) -> dict:
    return {"kind": "dynamic", "type": "url", "content": {"url": f"https://example.com/{n}"}}


def test_free_plan_stops_at_its_dynamic_code_quota(api, db):
    caller = api()
    created = [caller.post("/api/v1/qr-codes", json=dynamic(n)) for n in range(25)]
    assert {r.status_code for r in created} == {201}

    refused = caller.post("/api/v1/qr-codes", json=dynamic(25))
    assert refused.status_code == 402
    assert refused.json["error"]["code"] == "quota_exceeded"
    assert refused.json["error"]["message"] == (
        "Your Free plan allows 25 active dynamic QR codes; you have 25. "
        "Remove some first, or upgrade: the Pro plan allows 1,000. Change the plan at "
        "http://localhost/billing")
    static = {"kind": "static", "type": "text", "content": {"text": "still fine"}}
    assert caller.post("/api/v1/qr-codes", json=static).status_code == 201

    assert caller.delete(f"/api/v1/qr-codes/{created[0].json['id']}").status_code in (200, 204)
    assert caller.post("/api/v1/qr-codes", json=dynamic(26)).status_code == 201  # room again
    restore = caller.patch(f"/api/v1/qr-codes/{created[0].json['id']}", json={"archived": False})
    assert restore.status_code == 402  # restoring would go over the quota

    set_plan(caller.workspace_id, "pro")
    assert caller.post("/api/v1/qr-codes", json=dynamic(27)).status_code == 201


def test_pages_link_to_the_plans_where_the_api_gives_their_address(api, client, login,
                                                                     create_user):
    from qrplatform.testing.pytest_plugin import csrf_token

    user = create_user()
    caller = api(user)
    codes = [caller.post("/api/v1/qr-codes", json=dynamic(n)).json for n in range(25)]
    login(user)
    page = f"/qr/{codes[0]['id']}"
    refused = client.post(f"{page}/duplicate", data={"csrf_token": csrf_token(client, page)})
    assert refused.status_code == 402
    text = refused.get_data(as_text=True)
    assert "the Pro plan allows 1,000." in text and "Change the plan at" not in text
    assert 'href="http://localhost/billing"' in text
