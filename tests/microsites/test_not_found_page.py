"""A workspace's own "not found" page: one of its microsites, published, shown with status
404 for its pages that are not published and on its custom domains for addresses they do not
have (a domain's own not-found URL still comes first); one per workspace; never another
workspace's; never a page behind a password."""

from microsites.makers import PAGE
from qrplatform.testing.pytest_plugin import set_plan
from tests.domains.makers import make_domain
from tests.microsites.test_domains import _domain_name

LOST = [{"type": "heading", "text": "Lost? Our menu is this way"},
        {"type": "link", "label": "Menu", "url": "https://example.com/menu"}]


def _site(owner, name, blocks=PAGE, **fields):
    site = owner.post("/api/v1/microsites", json={"name": name, "blocks": blocks, **fields})
    assert site.status_code == 201, site.json
    return site.json


def test_the_chosen_page_answers_for_the_workspaces_missing_pages(owner, api):
    set_plan(owner.workspace_id, "business")
    client = owner.client
    draft = _site(owner, "Coming soon")
    lost = _site(owner, "Lost", LOST, not_found_page=True)
    assert lost["not_found_page"] is True
    # Not published yet: the platform's page, naming the workspace.
    missing = client.get(f"/m/{draft['slug']}")
    assert missing.status_code == 404 and "Lost? Our menu" not in missing.get_data(as_text=True)

    owner.post(f"/api/v1/microsites/{lost['id']}/publish")
    missing = client.get(f"/m/{draft['slug']}")
    body = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "Lost? Our menu" in body
    assert "script-src 'self'" in missing.headers["Content-Security-Policy"]
    assert missing.headers["Cache-Control"] == "private, no-store"

    # Another workspace's unpublished page, and an address nobody has, never show it.
    other = api()
    set_plan(other.workspace_id, "business")
    theirs = _site(other, "Their draft")
    for path in (f"/m/{theirs['slug']}", "/m/nobody-has-this"):
        answer = client.get(path)
        assert answer.status_code == 404 and "Lost? Our menu" not in answer.get_data(
            as_text=True)

    # One per workspace: choosing another steps the first down; behind a password, none.
    second = _site(owner, "Lost too", LOST, not_found_page=True)
    assert owner.get(f"/api/v1/microsites/{lost['id']}").json["not_found_page"] is False
    assert client.get(f"/m/{draft['slug']}").status_code == 404
    assert "Lost? Our menu" not in client.get(f"/m/{draft['slug']}").get_data(as_text=True)
    owner.post(f"/api/v1/microsites/{second['id']}/publish")
    assert "Lost? Our menu" in client.get(f"/m/{draft['slug']}").get_data(as_text=True)
    owner.patch(f"/api/v1/microsites/{second['id']}", json={"password": "s3cret-pass"})
    assert "Lost? Our menu" not in client.get(f"/m/{draft['slug']}").get_data(as_text=True)


def test_a_custom_domain_shows_it_for_what_it_does_not_have(owner):
    set_plan(owner.workspace_id, "business")
    host = _domain_name(owner, make_domain(owner))
    client = owner.client
    lost = _site(owner, "Lost", LOST, not_found_page=True)
    owner.post(f"/api/v1/microsites/{lost['id']}/publish")
    for path in ("/m/nobody-has-this", "/r/NOPE1234", "/NOPE1234"):
        answer = client.get(path, base_url=f"https://{host}")
        assert answer.status_code == 404, path
        assert "Lost? Our menu" in answer.get_data(as_text=True), path
    # The domain's own not-found address comes first.
    from qrp_domains.models import Domain
    from qrplatform.extensions import db
    from qrplatform.tenancy import tenant_scope

    with tenant_scope(owner.workspace_id):
        domain = db.session.query(Domain).filter_by(name=host).one()
        domain_id = domain.id
    changed = owner.patch(f"/api/v1/domains/{domain_id}",
                          json={"not_found_url": "https://example.com/sorry"})
    assert changed.status_code == 200, changed.json
    answer = client.get("/m/nobody-has-this", base_url=f"https://{host}")
    assert answer.status_code == 302 and answer.headers["Location"] == "https://example.com/sorry"


def test_the_settings_page_chooses_it(client, create_user, login, api):
    from qrplatform.testing.pytest_plugin import csrf_token

    user = create_user()
    owner = api(user)
    set_plan(owner.workspace_id, "business")
    lost = _site(owner, "Lost", LOST)
    login(user)
    path = f"/microsites/{lost['id']}/settings"
    page = client.get(path).get_data(as_text=True)
    assert "Use as the “not found” page of this workspace" in page
    saved = client.post(path, data={"csrf_token": csrf_token(client, path), "name": "Lost",
                                    "slug": lost["slug"], "not_found_page": "y"})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:1500]
    assert owner.get(f"/api/v1/microsites/{lost['id']}").json["not_found_page"] is True
