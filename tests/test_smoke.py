def test_signup_and_me(api, client):
    response = client.post("/api/v1/auth/signup",
                           json={"email": "Ann@Example.com", "password": "long enough pw",
                                 "name": "Ann"})
    assert response.status_code == 201, response.json
    assert response.json["user"]["email"] == "ann@example.com"
    token = client.post("/api/v1/auth/tokens",
                        json={"email": "ann@example.com", "password": "long enough pw"})
    assert token.status_code == 201, token.json
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json['token']}"})
    assert me.status_code == 200, me.json
    assert me.json["workspace"]["role"] == "owner"
