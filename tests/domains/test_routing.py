"""Routing by Host: a verified domain serves its workspace's short links at /<code>, its root
and its own 404; another workspace's code never resolves there; the platform's hosts are
untouched. Through the fast path and through Flask, in one process and across two sharing
Redis."""

import html
import io
import time

import pytest
import zxingcpp
from PIL import Image

from tests.domains.conftest import TARGET, add, fresh_name, make_code, publish_records, verified

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def visit(client, host: str, path: str, method: str = "GET", **kwargs):
    return client.open(path, method=method, base_url=f"https://{host}",
                       headers={"User-Agent": IPHONE, **kwargs.pop("headers", {})}, **kwargs)


def scans(app):
    return [e for e in app.extensions["qrp.stream"].pending() if e.type == "qr.scanned"]


@pytest.fixture
def brand(dns, pro):
    """Workspace A with a verified domain."""
    owner = pro()
    return owner, verified(owner, dns)


def test_a_code_on_the_domain_has_its_short_url_and_printed_code_there(app, client, brand):
    owner, domain = brand
    code = make_code(owner, domain=domain["name"], name="On the brand")
    assert code["domain"] == domain["name"]
    assert code["short_url"] == f"https://{domain['name']}/{code['short_code']}"
    png = client.get(code["image_url"]["png"].replace("http://localhost", "")).data
    [read] = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert read == code["short_url"]   # the printed code carries the custom domain


@pytest.mark.parametrize("fast_path", [True, False])
def test_codes_resolve_at_slash_code_on_the_domain(app, make_app, client, brand, fast_path,
                                                   dns):
    owner, domain = brand
    served = app if fast_path else make_app(QR_REDIRECT_FAST_PATH=False,
                                            QRP_DNS_RESOLVER=dns.address,
                                            DOMAINS_CNAME_TARGET=TARGET)
    scanner = served.test_client()
    on_domain = make_code(owner, domain=domain["name"], destination="https://example.com/a")
    on_platform = make_code(owner, destination="https://example.com/b")
    app.extensions["qrp.stream"].discard()
    for code, target in ((on_domain, "https://example.com/a"),
                         (on_platform, "https://example.com/b")):
        response = visit(scanner, domain["name"], f"/{code['short_code']}")
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        assert response.headers["Location"] == target
    recorded = scans(served)
    assert [e.data["short_code"] for e in recorded] == [on_domain["short_code"],
                                                        on_platform["short_code"]]
    assert all(e.workspace_id == owner.workspace_id for e in recorded)
    # The platform's short links still work for a code on the domain (nothing to reprint).
    assert scanner.get(f"/r/{on_domain['short_code']}").headers["Location"] == \
        "https://example.com/a"


def test_another_workspaces_code_never_resolves_on_the_domain(app, client, brand, pro, dns):
    _owner, domain = brand
    other = pro()
    theirs = make_code(other, destination="https://example.com/theirs")
    their_domain = verified(other, dns)
    theirs_on_their_domain = make_code(other, domain=their_domain["name"])
    app.extensions["qrp.stream"].discard()
    for code in (theirs, theirs_on_their_domain):
        response = visit(client, domain["name"], f"/{code['short_code']}")
        assert response.status_code == 404
        assert "Nothing here" in response.get_data(as_text=True)
        head = visit(client, domain["name"], f"/{code['short_code']}", method="HEAD")
        assert head.status_code == 404
        content = visit(client, domain["name"], f"/{code['short_code']}/c")
        assert content.status_code == 404
        unlock = visit(client, domain["name"], f"/r/{code['short_code']}", method="POST",
                       data={"password": "x"})
        assert unlock.status_code == 404
    assert scans(app) == []   # nothing recorded for another workspace's code
    # And on their own domain they work.
    assert visit(client, their_domain["name"],
                 f"/{theirs_on_their_domain['short_code']}").status_code == 302


def test_root_and_unknown_paths_answer_the_domains_own_pages(app, client, brand, db):
    owner, domain = brand
    workspace_name = owner.get("/api/v1/me").json["workspaces"][0]["name"]
    for path in ("/", "/nope-1234", "/login", "/api/v1/me", "/qr/", "/a/b/c", "/r/", "/r"):
        response = visit(client, domain["name"], path)
        assert response.status_code == 404, path
        page = html.unescape(response.get_data(as_text=True))
        assert "Nothing here" in page and workspace_name in page, path
        assert "Log in" not in page
    changed = owner.patch(f"/api/v1/domains/{domain['id']}", json={
        "root_url": "https://brand.example/", "not_found_url": "https://brand.example/404"})
    assert changed.status_code == 200
    assert visit(client, domain["name"], "/").headers["Location"] == "https://brand.example/"
    for path in ("/missing0", "/login", "/x/y"):
        response = visit(client, domain["name"], path)
        assert response.status_code == 302
        assert response.headers["Location"] == "https://brand.example/404"
    # Its styles load (the 404 page's).
    assert visit(client, domain["name"], "/static/vendor/pico.min.css").status_code == 200
    assert visit(client, domain["name"], "/domains/static/domains.css").status_code == 200


def test_a_password_protected_code_works_on_the_domain(app, client, brand):
    owner, domain = brand
    code = make_code(owner, domain=domain["name"], password="open sesame")
    form = visit(client, domain["name"], f"/{code['short_code']}")
    assert form.status_code == 200 and "Password needed" in form.get_data(as_text=True)
    action = f"/r/{code['short_code']}"
    assert f'action="{action}"' in form.get_data(as_text=True)
    wrong = visit(client, domain["name"], action, method="POST", data={"password": "no"})
    assert wrong.status_code == 401
    right = visit(client, domain["name"], action, method="POST",
                  data={"password": "open sesame"})
    assert right.status_code == 303 and right.headers["Location"] == \
        "https://example.com/landing"


def test_a_text_codes_content_is_served_on_the_domain(app, client, brand):
    owner, domain = brand
    code = owner.post("/api/v1/qr-codes", json={
        "type": "text", "kind": "dynamic", "content": {"text": "Opening hours: 9 to 5"},
        "domain": domain["name"]}).json
    first = visit(client, domain["name"], f"/{code['short_code']}")
    assert first.headers["Location"] == f"https://{domain['name']}/{code['short_code']}/c"
    page = visit(client, domain["name"], f"/{code['short_code']}/c")
    assert page.status_code == 200 and "Opening hours: 9 to 5" in page.get_data(as_text=True)


def test_pending_and_unknown_hosts_are_not_routed(app, client, dns, pro):
    owner = pro()
    pending = add(owner, fresh_name())
    code = make_code(owner)
    for host in (pending["name"], "unknown.example.org"):
        response = visit(client, host, f"/{code['short_code']}")
        assert response.status_code == 404 and "Nothing here" not in response.get_data(
            as_text=True)
        assert visit(client, host, f"/r/{code['short_code']}").status_code == 302


def test_a_misconfigured_domain_keeps_serving_and_a_removed_one_stops(app, client, brand,
                                                                      dns):
    owner, domain = brand
    code = make_code(owner, domain=domain["name"])
    dns.set(domain["name"], "CNAME", "elsewhere.example.net")
    assert owner.post(f"/api/v1/domains/{domain['id']}/verify").json["status"] == \
        "misconfigured"
    # Requests that still reach us (DNS caches, a flapping record) keep working.
    assert visit(client, domain["name"], f"/{code['short_code']}").status_code == 302
    removed = owner.delete(f"/api/v1/domains/{domain['id']}?force=true")
    assert removed.status_code == 202
    assert visit(client, domain["name"], f"/{code['short_code']}").status_code == 404


def test_the_certificate_ask_endpoint_answers_for_verified_domains_only(app, client, brand,
                                                                      dns, pro):
    owner, domain = brand
    pending = add(owner, fresh_name())

    def ask(name):
        return client.get("/internal/domains/allowed", query_string={"domain": name})

    assert ask(domain["name"]).status_code == 200
    assert ask(domain["name"].upper() + ".").status_code == 200
    for name in (pending["name"], "unknown.example.org", "", "x" * 300, "127.0.0.1"):
        assert ask(name).status_code == 404, name
    dns.set(domain["name"], "CNAME", "elsewhere.example.net")
    owner.post(f"/api/v1/domains/{domain['id']}/verify")
    assert ask(domain["name"]).status_code == 404   # misconfigured: no new certificate
    # On a custom domain the internal endpoint does not exist.
    dns.set(domain["name"], "CNAME", TARGET)
    owner.post(f"/api/v1/domains/{domain['id']}/verify")
    assert visit(client, domain["name"], "/internal/domains/allowed",
                 query_string={"domain": domain["name"]}).status_code == 404


def test_the_host_map_is_shared_through_redis_and_invalidated_at_once(make_app, db, dns,
                                                                      redis_url, redis, pro):
    """Two apps stand for two gunicorn workers: one serves scans, the other is where the
    owner changes the domain."""
    from qrp_domains import hostmap

    config = {"REDIS_URL": redis_url, "QRP_DNS_RESOLVER": dns.address,
              "DOMAINS_CNAME_TARGET": TARGET}
    serving, editing = make_app(**config), make_app(**config)
    owner = pro()
    editor_client = editing.test_client()
    bearer = {"Authorization": f"Bearer {owner.token}"}
    domain = editor_client.post("/api/v1/domains", headers=bearer,
                                json={"name": fresh_name()}).json
    publish_records(dns, domain)
    cache = hostmap.host_map(serving)
    assert cache.wait_until_listening()
    scanner = serving.test_client()
    # Before verification the name is not a custom domain (remembered as such, briefly).
    assert "Nothing here" not in visit(scanner, domain["name"], "/").get_data(as_text=True)
    editor_client.post(f"/api/v1/domains/{domain['id']}/verify", headers=bearer)
    code = editor_client.post("/api/v1/qr-codes", headers=bearer, json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/x",
        "domain": domain["name"]}).json
    deadline = time.monotonic() + 1.0
    while domain["name"] in cache._local and time.monotonic() < deadline:
        time.sleep(0.001)
    assert visit(scanner, domain["name"], f"/{code['short_code']}").status_code == 302
    assert domain["name"] in cache._local     # now served from the process's memory
    assert redis.get(f"qrp:domains:host:{domain['name']}") is not None
    editor_client.patch(f"/api/v1/domains/{domain['id']}", headers=bearer,
                        json={"root_url": "https://brand.example/"})
    deadline = time.monotonic() + 1.0
    while domain["name"] in cache._local and time.monotonic() < deadline:
        time.sleep(0.001)
    assert visit(scanner, domain["name"], "/").headers["Location"] == "https://brand.example/"


def test_a_static_code_cannot_choose_a_domain_and_qr_works_without_domains(
        make_app, db, brand, api):
    owner, domain = brand
    static = owner.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "static", "destination": "https://example.com",
        "domain": domain["name"]})
    assert static.status_code == 422 and "domain" in static.json["error"]["fields"]
    # Without the domains plugin the field exists, only the platform's domain is offered.
    bare = make_app(QRP_PLUGINS=["qr", "analytics", "teams"])
    from qrplatform.auth import services as auth

    _token, plain = auth.create_token(_user(db, owner), owner.workspace_id, "bare")
    client = bare.test_client()
    refused = client.post("/api/v1/qr-codes", headers={"Authorization": f"Bearer {plain}"},
                          json={"type": "url", "kind": "dynamic",
                                "destination": "https://example.com", "domain": "go.x.com"})
    assert refused.status_code == 422 and "domain" in refused.json["error"]["fields"]
    fine = client.post("/api/v1/qr-codes", headers={"Authorization": f"Bearer {plain}"},
                       json={"type": "url", "kind": "dynamic",
                             "destination": "https://example.com"})
    assert fine.status_code == 201 and fine.json["short_url"].startswith("http://localhost/r/")


def _user(db, owner):
    from qrplatform.auth.models import User

    return db.session.get(User, owner.user_id)
