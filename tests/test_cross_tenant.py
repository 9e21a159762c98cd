"""No workspace can read or change another's data, through any API operation.

Every API path that names a resource must have a maker below; the test then creates the
resource in one workspace and tries every method on it from another.
"""

import uuid

import pytest

from qrplatform import jobs
from qrplatform.extensions import db as database
from qrplatform.tenancy import tenant_scope
from tests.domains.makers import DOMAINS_MAKERS, make_domain
from tests.microsites.makers import MICROSITES_MAKERS, make_microsite, make_theme_preset
from tests.teams.makers import TEAMS_MAKERS
from tests.webhooks.makers import WEBHOOKS_MAKERS, make_webhook


def make_token(owner) -> str:
    return str(owner.post("/api/v1/auth/tokens", json={
        "email": owner.email, "password": owner.password, "name": "owner's"}).json["id"])


def make_job(owner) -> str:
    with tenant_scope(owner.workspace_id):
        job = jobs.Job(id=str(uuid.uuid4()), name="x:y", args=[],
                       workspace_id=owner.workspace_id)
        database.session.add(job)
        database.session.commit()
        return job.id


def make_qr_code(owner) -> str:
    response = owner.post("/api/v1/qr-codes", json={
        "name": "owner's code", "type": "url", "kind": "dynamic",
        "destination": "https://example.com"})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def make_design_template(owner) -> str:
    response = owner.post("/api/v1/qr-design-templates", json={
        "name": f"owner's design {uuid.uuid4().hex[:8]}", "design": {"foreground": "#112233"}})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def make_qr_folder(owner) -> str:
    response = owner.post("/api/v1/qr-folders",
                          json={"name": f"owner's folder {uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def make_asset(owner) -> str:
    import io

    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(image, "PNG")
    image.seek(0)
    response = owner.post("/api/v1/assets", data={"file": (image, "owner's logo.png"),
                                                  "name": "owner's logo"},
                          content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def make_asset_upload(owner) -> str:
    response = owner.post("/api/v1/assets/uploads", json={
        "filename": "owner's.png", "content_type": "image/png", "bytes": 100})
    assert response.status_code == 201, response.json
    return response.json["id"]


# Path template → maker(owner) returning the id of a resource the owner's workspace holds.
# A template also covers the paths below it (/qr-codes/{code_id}/analytics, …/image, …).
MAKERS = {
    "/api/v1/tokens/{token_id}": make_token,
    "/api/v1/jobs/{job_id}": make_job,
    "/api/v1/qr-codes/{code_id}": make_qr_code,
    "/api/v1/qr-design-templates/{template_id}": make_design_template,
    "/api/v1/qr-folders/{folder_id}": make_qr_folder,
    "/api/v1/assets/{asset_id}": make_asset,
    "/api/v1/assets/uploads/{upload_id}": make_asset_upload,
}

MAKERS.update(TEAMS_MAKERS)
MAKERS.update(DOMAINS_MAKERS)
MAKERS.update(WEBHOOKS_MAKERS)
MAKERS.update(MICROSITES_MAKERS)

# Collections whose listing must never show another workspace's items ("owner's" names).
COLLECTIONS = ["/api/v1/tokens", "/api/v1/qr-codes", "/api/v1/qr-design-templates",
               "/api/v1/qr-folders",
               "/api/v1/assets", "/api/v1/qr-codes/export", "/api/v1/webhooks",
               "/api/v1/microsites", "/api/v1/microsites/theme-presets"]


class Owner:
    def __init__(self, api_client, user, password):
        self.api = api_client
        self.email = user.email
        self.password = password
        self.workspace_id = api_client.workspace_id

    def post(self, path, **kw):
        return self.api.post(path, **kw)


@pytest.fixture
def owner_and_intruder(api, create_user):
    from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD

    owner_user = create_user()
    owner = Owner(api(owner_user), owner_user, DEFAULT_PASSWORD)
    return owner, api()


def resource_operations(app):
    spec = app.test_client().get("/api/openapi.json").json
    for path, operations in spec["paths"].items():
        if "{" not in path:
            continue
        template = next((t for t in MAKERS if path.startswith(t)), None)
        for method in operations:
            if method in {"get", "put", "patch", "delete", "post"}:
                yield path, template, method


def test_every_resource_in_the_api_has_a_cross_tenant_case(app):
    missing = sorted({path for path, template, _ in resource_operations(app) if not template})
    assert not missing, f"add a maker to MAKERS for {missing}"


def test_no_operation_reaches_another_workspace(app, owner_and_intruder):
    owner, intruder = owner_and_intruder
    tried = 0
    for path, template, method in resource_operations(app):
        if template is None:
            continue  # reported by the test above
        resource_id = MAKERS[template](owner)
        name = template.rsplit("{", 1)[1].rstrip("}")
        url = path.replace("{" + name + "}", resource_id)
        response = getattr(intruder, method)(url, json={})
        assert response.status_code in (404, 422) if method in {"put", "patch", "post"} \
            else response.status_code == 404, (method, url, response.status_code, response.json)
        if response.status_code == 422:  # refused on its input: try the resource's own GET
            assert intruder.get(template.replace("{" + name + "}", resource_id)).status_code \
                == 404
        tried += 1
    assert tried >= 2


def test_listings_show_only_your_workspace(owner_and_intruder):
    owner, intruder = owner_and_intruder
    make_token(owner)
    make_qr_code(owner)
    make_design_template(owner)
    make_qr_folder(owner)
    make_asset(owner)
    make_webhook(owner)
    make_microsite(owner)
    make_theme_preset(owner)
    for path in COLLECTIONS:
        assert intruder.get(path).status_code == 200
        assert "owner's" not in intruder.get(path).get_data(as_text=True)
        assert "owner's" in owner.api.get(path).get_data(as_text=True)


def test_a_workspaces_domain_serves_none_of_another_workspaces_codes(owner_and_intruder):
    """Host routing: the intruder's code is not found on the owner's domain (and the other
    way round), whatever path it is asked under."""
    from qrp_domains.models import Domain

    owner, intruder = owner_and_intruder
    domain_id = int(make_domain(owner))
    intruders_code = intruder.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/intruder"}).json
    owners_code = owner.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/owner"}).json
    with tenant_scope(owner.workspace_id):
        host = database.session.get(Domain, domain_id).name
    client = intruder.client
    for path in (f"/{intruders_code['short_code']}", f"/r/{intruders_code['short_code']}",
                 f"/{intruders_code['short_code']}/c"):
        response = client.get(path, base_url=f"https://{host}")
        assert response.status_code == 404, path
    assert client.get(f"/{owners_code['short_code']}",
                      base_url=f"https://{host}").status_code == 302
    assert intruder.get(f"/api/v1/domains/{domain_id}").status_code == 404
    assert host not in intruder.get("/api/v1/domains").get_data(as_text=True)
