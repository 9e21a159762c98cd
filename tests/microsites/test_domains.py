"""Microsites on a workspace's custom domain: its root shows the page chosen for it, /m/<slug>
serves only that workspace's pages, and an unknown page gets the domain's own 404."""

from microsites.makers import PAGE
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope
from qrplatform.testing.pytest_plugin import set_plan
from tests.domains.makers import make_domain


def _domain_name(owner, domain_id):
    from qrp_domains.models import Domain

    with tenant_scope(owner.workspace_id):
        return db.session.get(Domain, int(domain_id)).name


def test_a_custom_domain_root_shows_its_microsite(owner, api):
    set_plan(owner.workspace_id, "business")
    host = _domain_name(owner, make_domain(owner))
    site = owner.post("/api/v1/microsites", json={"name": "Root page", "blocks": PAGE,
                                                  "domain": host}).json
    assert site["domain"] == host and site["url"] == f"https://{host}/"
    client = owner.client
    assert client.get("/", base_url=f"https://{host}").status_code == 404  # not published
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    root = client.get("/", base_url=f"https://{host}")
    assert root.status_code == 200 and "Café Lumière" in root.get_data(as_text=True)
    assert "script-src 'self'" in root.headers["Content-Security-Policy"]
    # Its stylesheet and its own /m/ address answer on the domain too.
    assert client.get(f"/m/{site['slug']}", base_url=f"https://{host}").status_code == 200
    assert client.get("/microsites/static/page.css", base_url=f"https://{host}"
                      ).status_code == 200

    # Another workspace's page is not found on this domain, with the domain's own 404.
    other = api()
    theirs = other.post("/api/v1/microsites", json={"name": "Theirs", "blocks": PAGE}).json
    other.post(f"/api/v1/microsites/{theirs['id']}/publish")
    assert client.get(f"/m/{theirs['slug']}").status_code == 200
    missing = client.get(f"/m/{theirs['slug']}", base_url=f"https://{host}")
    assert missing.status_code == 404 and "Theirs" not in missing.get_data(as_text=True)

    # Moving the page off the domain frees its root at once.
    owner.patch(f"/api/v1/microsites/{site['id']}", json={"domain": None})
    assert client.get("/", base_url=f"https://{host}").status_code == 404


def test_only_the_workspaces_verified_domains_can_be_chosen(owner, api):
    set_plan(owner.workspace_id, "business")
    other = api()
    set_plan(other.workspace_id, "business")
    host = _domain_name(other, make_domain(other))
    refused = owner.post("/api/v1/microsites", json={"name": "x", "domain": host})
    assert refused.status_code == 422 and "domain" in refused.json["error"]["fields"]
