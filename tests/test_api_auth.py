"""Every API operation needs a Bearer token unless its blueprint marks it public: declared once
per blueprint (qrplatform.api.ApiBlueprint), documented and enforced alike."""

import re

PUBLIC = {("post", "/api/v1/auth/signup"), ("post", "/api/v1/auth/tokens"),
          # A forgotten password: the person has no token (the e-mailed link is the proof).
          ("post", "/api/v1/auth/password-reset"), ("post", "/api/v1/auth/password-reset/confirm")}


def test_every_operation_but_the_public_ones_documents_and_demands_a_token(client):
    spec = client.get("/api/openapi.json").json
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            if (method, path) in PUBLIC:
                assert "security" not in operation, path
                continue
            assert operation.get("security") == [{"bearerAuth": []}], (method, path)
            # A body that would not validate: the missing token is still what is refused.
            response = client.open(url, method=method.upper(), json={"bad": object.__name__})
            assert response.status_code == 401, (method, path, response.json)
            assert response.json["error"]["code"] == "unauthorized"
            checked += 1
    assert checked >= 35
