"""Adding a domain, proving it by DNS (a real DNS server whose records change during the
test), the status lifecycle, what the API and the checks say in plain words."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from qrp_domains import services
from qrp_domains.models import Domain
from qrplatform.tenancy import tenant_scope, unscoped
from qrplatform.testing.pytest_plugin import set_plan
from tests.domains.conftest import TARGET, add, fresh_name, publish_records, verified


def test_a_domain_is_added_pending_with_the_records_to_create(dns, pro):
    owner = pro()
    name = fresh_name()
    domain = add(owner, name)
    assert domain["status"] == "pending" and domain["name"] == name
    records = {r["type"]: r for r in domain["verification"]}
    assert records["TXT"]["host"] == f"_qrplatform.{name}"
    assert records["TXT"]["value"].startswith("qrplatform-verification=")
    assert records["CNAME"] == {"type": "CNAME", "host": name, "name": name.split(".example")[0],
                                "value": TARGET, "purpose": "routing"}
    assert domain["http_verification"]["url"] == \
        f"http://{name}/.well-known/qrplatform-verification.txt"
    assert owner.get("/api/v1/domains").json[0]["id"] == domain["id"]


@pytest.mark.parametrize("typed, message", [
    ("192.0.2.10", "IP address"),
    ("https://go.brand.com/x", "just the domain"),
    ("co.uk", "public suffix"),
    ("github.io", "public suffix"),
    ("intranet.corp", "top-level domain"),
    ("localhost", "top-level domain"),
    ("*.brand.com", "Wildcards"),
    ("go.brand.com:8443", "port"),
    ("-bad-.brand.com", "not a valid domain name"),
    ("localhost.localdomain", "top-level domain"),
    ("brand.com", "root domain"),     # no A addresses configured: subdomains only
    ("", "Length"),
])
def test_names_that_cannot_be_added_are_refused_saying_why(dns, pro, typed, message):
    response = pro().post("/api/v1/domains", json={"name": typed})
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert message.lower() in (error["message"] + str(error["fields"])).lower()


def test_the_platforms_own_hosts_cannot_be_added(dns, pro, app, monkeypatch):
    monkeypatch.setitem(app.config, "DOMAINS_RESERVED", "app.qrplatform.io")
    owner = pro()
    for name in ("app.qrplatform.io", "x.qrplatform.io", TARGET, "other.qrplatform.net"):
        response = owner.post("/api/v1/domains", json={"name": name})
        assert response.status_code == 422, name
        assert "belongs to the platform" in response.json["error"]["message"]


def test_an_idn_is_kept_in_punycode_and_shown_in_unicode(dns, pro):
    domain = add(pro(), "Links.Bücher.de")
    assert domain["name"] == "links.xn--bcher-kva.de"
    assert domain["display_name"] == "links.bücher.de"


def test_a_root_domain_points_by_a_records_when_addresses_are_configured(dns, pro, app,
                                                                           monkeypatch):
    monkeypatch.setitem(app.config, "DOMAINS_ADDRESSES", "127.0.0.1")
    owner = pro()
    name = fresh_name().split(".", 1)[1].replace(".example.com", ".com")  # registrable
    domain = add(owner, name)
    assert [r["type"] for r in domain["verification"]] == ["TXT", "A"]
    dns.set(f"_qrplatform.{name}", "TXT", domain["verification"][0]["value"])
    dns.set(name, "A", "198.51.100.7")
    checked = owner.post(f"/api/v1/domains/{domain['id']}/verify").json
    assert checked["status"] == "pending"
    assert any("198.51.100.7, which is not ours" in p for p in checked["problems"])
    dns.set(name, "A", "127.0.0.1")
    assert owner.post(f"/api/v1/domains/{domain['id']}/verify").json["status"] == "verified"


def test_a_platform_reached_by_an_ip_address_asks_for_a_records_not_a_cname(
        dns, pro, app, monkeypatch, create_user, login, client):
    """No CNAME can point at an address: every domain then points with an A record."""
    monkeypatch.setitem(app.config, "DOMAINS_CNAME_TARGET", "")
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "http://203.0.113.7")
    user = create_user()
    owner = pro(user)
    sub = add(owner, fresh_name())
    relative = sub["name"].split(".")[0] + "." + sub["name"].split(".")[1]
    assert [(r["type"], r["name"], r["value"]) for r in sub["verification"]][1:] == [
        ("A", relative, "203.0.113.7")]
    dns.set(f"_qrplatform.{sub['name']}", "TXT", sub["verification"][0]["value"])
    first = owner.post(f"/api/v1/domains/{sub['id']}/verify").json
    assert any("Create an A record with the value 203.0.113.7" in p
               for p in first["problems"]), first["problems"]
    dns.set(sub["name"], "A", "203.0.113.7")
    assert owner.post(f"/api/v1/domains/{sub['id']}/verify").json["status"] == "verified"

    root = fresh_name().split(".", 1)[1].replace(".example.com", ".com")
    assert [r["type"] for r in add(owner, root)["verification"]] == ["TXT", "A"]

    login(user)
    page = client.get("/domains/").get_data(as_text=True)
    assert "an A record with the address <code>203.0.113.7</code>" in page
    assert "CNAME record" not in page
    # A documentation address, like a machine's own: nobody on the internet reaches it.
    assert "Domains would point at 203.0.113.7, which visitors cannot reach" in page
    detail = client.get(f"/domains/{sub['id']}").get_data(as_text=True)
    assert "Domains would point at 203.0.113.7, which visitors cannot reach" in detail
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "http://93.184.215.14")
    assert "visitors cannot reach" not in client.get("/domains/").get_data(as_text=True)


def test_verification_says_in_plain_words_what_is_missing_then_verifies(dns, pro):
    owner = pro()
    domain = add(owner, fresh_name())
    url = f"/api/v1/domains/{domain['id']}/verify"
    name = domain["name"]

    first = owner.post(url).json
    assert first["status"] == "pending" and not first["owned"]
    assert any(f"no TXT record at _qrplatform.{name} yet" in p for p in first["problems"])
    assert any(f"{name} has no DNS record yet. Create a CNAME record pointing at {TARGET}" in p
               for p in first["problems"])

    dns.set(f"_qrplatform.{name}", "TXT", "qrplatform-verification=someone-elses")
    dns.set(name, "CNAME", "shops.example.net")
    second = owner.post(url).json
    assert any("not this workspace's token" in p for p in second["problems"])
    assert any(f"points at shops.example.net (CNAME), not at us. Change the CNAME's target "
               f"to {TARGET}" in p for p in second["problems"])

    publish_records(dns, domain)
    third = owner.post(url).json
    assert third["status"] == "verified" and third["owned"] and third["problems"] == []
    assert third["verified_at"] is not None

    history = owner.get(f"/api/v1/domains/{domain['id']}/checks").json
    assert [c["status_after"] for c in history] == ["verified", "pending", "pending"]
    assert history[0]["status_before"] == "pending" and history[0]["trigger"] == "manual"


def test_a_token_file_proves_ownership_instead_of_the_txt_record(dns, pro, app, monkeypatch,
                                                                  capture_server):
    """The token file is fetched from the domain's web server (here a local one)."""
    port = int(capture_server.url.rsplit(":", 1)[1])
    monkeypatch.setitem(app.config, "DOMAINS_HTTP_CHECK_PORT", port)
    monkeypatch.setitem(app.config, "QRP_NETGUARD_ALLOW_NETWORKS", ["127.0.0.0/8"])
    owner = pro()
    domain = add(owner, fresh_name())
    dns.set(domain["name"], "A", "127.0.0.1")     # its current web server
    token = domain["http_verification"]["content"]
    capture_server.respond("/.well-known/qrplatform-verification.txt", status=200,
                           body=token, headers={"Content-Type": "text/plain"})
    checked = owner.post(f"/api/v1/domains/{domain['id']}/verify").json
    assert checked["owned"] and checked["status"] == "pending"   # not pointing at us yet
    [fetched] = capture_server.requests_to("/.well-known/qrplatform-verification.txt")
    assert fetched.headers["Host"] == f"{domain['name']}:{port}"
    dns.remove(domain["name"])
    publish_records(dns, domain, txt=False)
    assert owner.post(f"/api/v1/domains/{domain['id']}/verify").json["status"] == "verified"


def test_the_token_file_is_never_fetched_from_a_private_address(dns, pro, app, monkeypatch):
    owner = pro()
    domain = add(owner, fresh_name())
    dns.set(domain["name"], "A", "169.254.169.254")   # cloud metadata
    checked = owner.post(f"/api/v1/domains/{domain['id']}/verify").json
    assert not checked["owned"]
    assert any("not a public address" in p for p in checked["problems"])


def test_lifecycle_verified_misconfigured_and_back_with_an_email(dns, pro, app, db,
                                                                 capture_server, monkeypatch):
    monkeypatch.setitem(app.config, "SENDGRID_API_KEY", "SG.test")
    monkeypatch.setitem(app.config, "SENDGRID_HOST", capture_server.url)
    owner = pro()
    domain = verified(owner, dns)
    url = f"/api/v1/domains/{domain['id']}/verify"

    dns.set(domain["name"], "CNAME", "elsewhere.example.net")
    broken = owner.post(url).json
    assert broken["status"] == "misconfigured"
    assert any("elsewhere.example.net" in p for p in broken["problems"])

    dns.fail(True)  # DNS down: nothing concluded, the status stays
    assert owner.post(url).json["status"] == "misconfigured"
    dns.fail(False)

    dns.set(domain["name"], "CNAME", TARGET)
    assert owner.post(url).json["status"] == "verified"


def test_the_scheduled_job_rechecks_with_backoff_and_emails_owners(dns, pro, make_app, db):
    """The scheduler enqueues the system job; it looks at the due domains only."""
    from qrplatform.auth.models import User
    from qrplatform.jobs import Job, schedules
    from qrplatform.notify import Notification

    owner = pro()
    domain = verified(owner, dns)
    pending = add(owner, fresh_name())
    later = add(owner, fresh_name())
    with tenant_scope(owner.workspace_id):
        row = db.session.get(Domain, domain["id"])
        assert row.next_check_at - row.last_checked_at == services.VERIFIED_INTERVAL
        for due in (domain["id"], pending["id"]):
            db.session.get(Domain, due).next_check_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    dns.remove(domain["name"])  # the owner deleted the CNAME

    scheduler = make_app(QRP_DNS_RESOLVER=dns.address, DOMAINS_CNAME_TARGET=TARGET)
    assert "domains.check_domains" in schedules.enqueue_due(scheduler)
    with unscoped():
        job = db.session.scalar(select(Job).where(Job.name == "domains.check_domains"))
        assert job.state == "finished" and job.result == {"checked": 2}
        assert job.workspace_id is None  # a system job, across workspaces
    with tenant_scope(owner.workspace_id):
        db.session.expire_all()
        row = db.session.get(Domain, domain["id"])
        assert row.status == "misconfigured" and row.notified_at is not None
        waiting = db.session.get(Domain, pending["id"])
        assert waiting.failed_checks == 1 and waiting.last_checked_at is not None
        assert waiting.next_check_at - waiting.last_checked_at == services.FIRST_RETRY * 2
        assert db.session.get(Domain, later["id"]).last_checked_at is None   # not due yet
        sent = list(db.session.scalars(select(Notification).where(
            Notification.template == "domains_misconfigured")))
    assert [m.recipient for m in sent] == [db.session.get(User, owner.user_id).email]
    assert domain["name"] in sent[0].subject
    assert f"{domain['name']} has no DNS record yet" in sent[0].body_text


def test_the_plan_quota_limits_domains_and_a_downgrade_makes_the_newest_read_only(dns, pro,
                                                                                 api, db):
    free = api()
    refused = free.post("/api/v1/domains", json={"name": fresh_name()})
    assert refused.status_code == 402
    assert "Free plan allows 0 custom domains" in refused.json["error"]["message"]

    owner = pro()
    first, second = verified(owner, dns), verified(owner, dns)
    add(owner, fresh_name())
    assert owner.post("/api/v1/domains", json={"name": fresh_name()}).status_code == 402

    set_plan(owner.workspace_id, "free")
    listing = {d["id"]: d for d in owner.get("/api/v1/domains").json}
    assert all(d["read_only"] for d in listing.values())   # free: 0 domains
    assert "keeps redirecting" in listing[first["id"]]["read_only_reason"]
    changed = owner.patch(f"/api/v1/domains/{first['id']}",
                          json={"root_url": "https://brand.example/"})
    assert changed.status_code == 409 and "read-only" in changed.json["error"]["message"]
    # A read-only domain takes no new codes, but its codes keep their domain.
    code = owner.post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                                "destination": "https://example.com",
                                                "domain": second["name"]})
    assert code.status_code == 422 and "domain" in code.json["error"]["fields"]

    set_plan(owner.workspace_id, "pro")
    listing = {d["id"]: d for d in owner.get("/api/v1/domains").json}
    assert not listing[first["id"]]["read_only"]
