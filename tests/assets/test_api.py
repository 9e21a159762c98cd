"""The media library through the API: upload, thumbnails, search, rename, tag, replace,
delete refused while in use, quotas, events, and S3 (moto) with a real presigned PUT."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from assets import files
from assets.conftest import upload
from qrplatform.events.models import OutboxEvent
from qrplatform.storage import IMMUTABLE
from qrplatform.tenancy import tenant_scope
from qrplatform.testing.pytest_plugin import set_plan


def outbox_types(db) -> list[str]:
    return [row.type for row in db.session.query(OutboxEvent).order_by(OutboxEvent.created_at)
            if row.type.startswith("assets.")]


def test_upload_answers_the_contract_and_makes_webp_thumbnails(client, db, owner):
    response = upload(owner, files.png(1600, 1200), "Brand logo.png", tags=["logo", "Brand"])
    assert response.status_code == 201, response.json
    body = response.json
    assert {"id", "url", "content_type", "bytes", "width", "height"} <= set(body)
    assert (body["name"], body["width"], body["height"]) == ("Brand logo", 1600, 1200)
    assert body["tags"] == ["brand", "logo"]
    assert body["url"].startswith("http://localhost/files/a/")
    # The thumbnail job ran after the commit (inline in tests) and reported its progress.
    job = owner.get(f"/api/v1/jobs/{body['thumbnail_job_id']}").json
    assert job["state"] == "finished" and job["percent"] == 100
    asset = owner.get(f"/api/v1/assets/{body['id']}").json
    assert sorted(asset["thumbnails"], key=int) == ["128", "256", "512", "1024"]
    thumb = client.get(urlsplit(asset["thumbnails"]["256"]).path)
    assert thumb.headers["Content-Type"] == "image/webp"
    assert thumb.headers["Cache-Control"] == IMMUTABLE
    assert Image.open(io.BytesIO(thumb.data)).size == (256, 192)
    original = client.get(urlsplit(body["url"]).path)
    assert original.headers["Cache-Control"] == IMMUTABLE
    assert original.headers["Content-Disposition"] == 'inline; filename="Brand logo.png"'


def test_pdf_and_svg_get_thumbnails_of_their_first_page_and_drawing(client, owner):
    pdf = upload(owner, files.pdf(3), "menu.pdf").json
    svg = upload(owner, files.SVG_PLAIN, "logo.svg").json
    gif = upload(owner, files.animated_gif(3, 300), "spin.gif").json
    for body, size in ((pdf, (181, 256)), (svg, (256, 128)), (gif, (256, 256))):
        asset = owner.get(f"/api/v1/assets/{body['id']}").json
        thumb = Image.open(io.BytesIO(client.get(urlsplit(asset["thumbnails"]["256"]).path).data))
        assert thumb.format == "WEBP" and thumb.size == size, (body["name"], thumb.size)
    svg_thumb = Image.open(io.BytesIO(client.get(urlsplit(
        owner.get(f"/api/v1/assets/{svg['id']}").json["thumbnails"]["256"]).path).data))
    assert svg_thumb.convert("RGB").getpixel((10, 10)) == pytest.approx((29, 78, 216), abs=3)


def test_search_filter_sort_and_pages(owner):
    upload(owner, files.png(10, 10), "alpha.png", tags=["summer"])
    upload(owner, files.pdf(1), "menu.pdf")
    upload(owner, files.png(300, 300, "white"), "beta.png")

    def names(**query):
        listing = owner.get("/api/v1/assets", query_string=query).json
        return [asset["name"] for asset in listing["items"]]

    assert names() == ["beta", "menu", "alpha"]
    assert names(sort="name") == ["alpha", "beta", "menu"]
    assert names(type="pdf") == ["menu"]
    assert names(q="summ") == ["alpha"], "search finds tags too"
    assert names(tag="summer") == ["alpha"]
    page = owner.get("/api/v1/assets", query_string={"per_page": 2, "page": 2}).json
    assert (page["total"], [a["name"] for a in page["items"]]) == (3, ["alpha"])
    assert page["usage"]["files"] == {"used": 3, "limit": 100}
    bad = owner.get("/api/v1/assets", query_string={"type": "exe"})
    assert bad.status_code == 422 and "type" in bad.json["error"]["fields"]


def test_rename_tag_replace_keeps_the_id_and_delete_is_refused_while_in_use(
        app, client, db, owner):
    from qrp_assets import services

    first = upload(owner, files.png(64, 64, "red"), "logo.png").json
    renamed = owner.patch(f"/api/v1/assets/{first['id']}", json={"name": "Logo 2026",
                                                                "tags": ["brand"]})
    assert renamed.status_code == 200 and renamed.json["name"] == "Logo 2026"
    assert renamed.json["tags"] == ["brand"]

    replaced = owner.put(f"/api/v1/assets/{first['id']}/file", data={
        "file": (io.BytesIO(files.png(80, 40, "blue")), "new.png")},
        content_type="multipart/form-data")
    assert replaced.status_code == 200, replaced.json
    assert (replaced.json["id"], replaced.json["version"]) == (first["id"], 2)
    assert (replaced.json["width"], replaced.json["name"]) == (80, "Logo 2026")
    assert replaced.json["url"] != first["url"]
    assert client.get(urlsplit(first["url"]).path).status_code == 404, "old file deleted"

    with tenant_scope(owner.workspace_id):
        services.set_usage("qr.code", 7, [first["id"]], label="QR code “Menu”",
                           href="/qr/7")
        db.session.commit()
    refused = owner.delete(f"/api/v1/assets/{first['id']}")
    assert refused.status_code == 409
    assert refused.json["error"]["fields"]["used_by"] == ["QR code “Menu”"]
    assert "in use by QR code “Menu”" in refused.json["error"]["message"]
    assert owner.get(f"/api/v1/assets/{first['id']}").json["used_by"] == [
        {"consumer": "qr.code", "ref_id": "7", "label": "QR code “Menu”", "href": "/qr/7"}]

    with tenant_scope(owner.workspace_id):
        services.set_usage("qr.code", 7, [], label="QR code “Menu”")
        db.session.commit()
    assert owner.delete(f"/api/v1/assets/{first['id']}").status_code == 204
    assert client.get(urlsplit(replaced.json["url"]).path).status_code == 404
    assert outbox_types(db) == ["assets.uploaded", "assets.updated", "assets.replaced",
                                "assets.deleted"]


def test_many_things_say_what_they_use_in_two_queries(db, owner, api):
    """``set_usages``: a bulk job's codes say which assets they use together; each thing ends
    up using exactly what it says, whatever it used before, and another workspace's asset is
    refused like an unknown one."""
    from sqlalchemy import event

    from qrp_assets import services

    first = upload(owner, files.png(64, 64, "red"), "a.png").json["id"]
    second = upload(owner, files.png(64, 64, "blue"), "b.png").json["id"]
    theirs = upload(api(), files.png(64, 64, "green"), "c.png").json["id"]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with tenant_scope(owner.workspace_id):
        services.set_usage("qr.code", 1, [first], label="QR code “One”")
        db.session.commit()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            services.set_usages("qr.code", [
                services.Usage(1, (second,), "QR code “One”", "/qr/1"),
                *(services.Usage(ref, (first, second), f"QR code {ref}") for ref in range(2, 300))])
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert len(statements) == 2, statements
        db.session.commit()
        with pytest.raises(services.NotFound):
            services.set_usages("qr.code", [services.Usage(400, (first, theirs), "QR code 400")])
        db.session.rollback()
    used_first = owner.get(f"/api/v1/assets/{first}").json["used_by"]
    used_second = owner.get(f"/api/v1/assets/{second}").json["used_by"]
    assert sorted(int(u["ref_id"]) for u in used_first) == list(range(2, 300))
    assert sorted(int(u["ref_id"]) for u in used_second) == list(range(1, 300))
    assert {"consumer": "qr.code", "ref_id": "1", "label": "QR code “One”",
            "href": "/qr/1"} in used_second


def test_identical_uploads_share_a_file_until_the_last_one_goes(client, owner):
    one = upload(owner, files.png(), "a.png").json
    two = upload(owner, files.png(), "b.png").json
    assert one["url"] == two["url"]
    owner.delete(f"/api/v1/assets/{one['id']}")
    assert client.get(urlsplit(two["url"]).path).status_code == 200
    owner.delete(f"/api/v1/assets/{two['id']}")
    assert client.get(urlsplit(two["url"]).path).status_code == 404


def test_the_same_file_in_two_workspaces_gets_two_keys(api, owner):
    other = api()
    assert upload(owner, files.png(), "a.png").json["url"] != \
        upload(other, files.png(), "a.png").json["url"]


def test_quotas_count_files_and_bytes_by_plan(db, owner):
    from qrp_assets.models import Asset

    with tenant_scope(owner.workspace_id):
        db.session.add_all([Asset(name=f"f{n}", kind="image", format="png",
                                  content_type="image/png", bytes=1000, key=f"a/x/{n}.png",
                                  thumbnails={}, removed=[], frames=1, version=1)
                            for n in range(100)])
        db.session.commit()
    refused = upload(owner, files.png(), "one-more.png")
    assert refused.status_code == 402
    assert ("Free plan allows 100 files in the media library; you have 100. Remove some "
            "first, or upgrade: the Pro plan allows 5,000.") in refused.json["error"]["message"]
    set_plan(owner.workspace_id, "pro")
    assert upload(owner, files.png(), "one-more.png").status_code == 201
    with tenant_scope(owner.workspace_id):
        db.session.query(Asset).filter(Asset.name == "f0").one().bytes = 5_000_000_000 - 100_000
        db.session.commit()
    big = upload(owner, files.png(2000, 2000, "white"), "big.png")
    assert big.status_code == 402
    assert "Pro plan allows 5 GB of storage in the media library" in big.json["error"]["message"]


def test_presigned_upload_to_s3_with_a_real_put(make_s3_app, moto_server, s3_bucket, db,
                                                create_user):
    """The mobile app's flow for large files: ask for an upload URL (quota checked), PUT the
    bytes straight to the bucket, confirm (checked again, cleaned, stored immutable)."""
    from qrplatform.auth import services as accounts

    app = make_s3_app(CDN_BASE_URL="https://cdn.example.com")
    user = create_user()
    _, token = accounts.create_token(user, user.personal_workspace_id, "phone")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    data = files.phone_jpeg(800, 600)

    started = client.post("/api/v1/assets/uploads", headers=auth, json={
        "filename": "holiday.jpg", "content_type": "image/jpeg", "bytes": len(data)})
    assert started.status_code == 201, started.json
    ticket = started.json
    assert ticket["method"] == "PUT" and ticket["url"].startswith(moto_server.url)
    early = client.post(ticket["confirm_url"], headers=auth, json={})
    assert early.status_code == 409 and "PUT the file" in early.json["error"]["message"]

    put = requests.put(ticket["url"], data=data, headers=ticket["headers"], timeout=10)
    assert put.status_code == 200, put.text
    confirmed = client.post(ticket["confirm_url"], headers=auth, json={"tags": ["trip"]})
    assert confirmed.status_code == 201, confirmed.json
    body = confirmed.json
    assert body["url"].startswith("https://cdn.example.com/a/")
    assert (body["width"], body["height"], body["tags"]) == (600, 800, ["trip"])
    s3 = moto_server.client("s3")
    key = urlsplit(body["url"]).path.lstrip("/")
    head = s3.head_object(Bucket=s3_bucket, Key=key)
    assert (head["ContentType"], head["CacheControl"]) == ("image/jpeg", IMMUTABLE)
    assert head["ContentDisposition"] == "inline; filename=holiday.jpg"
    stored = Image.open(io.BytesIO(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()))
    assert not stored.getexif(), "the GPS position did not reach the bucket"
    thumbs = client.get(f"/api/v1/assets/{body['id']}", headers=auth).json["thumbnails"]
    thumb_key = urlsplit(thumbs["256"]).path.lstrip("/")
    assert s3.head_object(Bucket=s3_bucket, Key=thumb_key)["ContentType"] == "image/webp"
    # The private upload is gone; a second confirm finds nothing.
    assert not s3.list_objects_v2(Bucket=s3_bucket, Prefix="uploads/").get("Contents")
    assert client.post(ticket["confirm_url"], headers=auth, json={}).status_code == 404


def test_presigned_upload_checks_size_and_quota_on_confirm(app, client, db, owner):
    from qrp_assets.models import Asset

    data = files.png(200, 200)
    ticket = owner.post("/api/v1/assets/uploads", json={
        "filename": "a.png", "content_type": "image/png", "bytes": 10}).json
    put = client.put(urlsplit(ticket["url"]).path, data=data, headers=ticket["headers"])
    assert put.status_code == 413, "the local upload URL holds the announced size"

    ticket = owner.post("/api/v1/assets/uploads", json={
        "filename": "a.png", "content_type": "image/png", "bytes": len(data)}).json
    assert client.put(urlsplit(ticket["url"]).path, data=data,
                      headers=ticket["headers"]).status_code == 200
    with tenant_scope(owner.workspace_id):  # the library filled up meanwhile
        db.session.add_all([Asset(name=f"f{n}", kind="image", format="png",
                                  content_type="image/png", bytes=10, key=f"a/x/{n}.png",
                                  thumbnails={}, removed=[], frames=1, version=1)
                            for n in range(100)])
        db.session.commit()
    refused = owner.post(ticket["confirm_url"], json={})
    assert refused.status_code == 402
    too_big = owner.post("/api/v1/assets/uploads", json={
        "filename": "b.png", "content_type": "image/png", "bytes": 10})
    assert too_big.status_code == 402, "refused before the upload starts"


def test_replace_through_a_presigned_upload_keeps_the_id(client, owner):
    first = upload(owner, files.png(), "a.png").json
    data = files.png(30, 30, "black")
    ticket = owner.post("/api/v1/assets/uploads", json={
        "filename": "b.png", "content_type": "image/png", "bytes": len(data),
        "asset_id": first["id"]}).json
    client.put(urlsplit(ticket["url"]).path, data=data, headers=ticket["headers"])
    replaced = owner.post(ticket["confirm_url"], json={})
    assert replaced.status_code == 200
    assert (replaced.json["id"], replaced.json["version"], replaced.json["width"]) == (
        first["id"], 2, 30)


def test_uploads_and_thumbnails_reach_the_audit_log(db, owner):
    from qrp_teams.models import AuditEntry
    from qrplatform.events import outbox

    asset = upload(owner, files.png(), "logo.png").json
    owner.delete(f"/api/v1/assets/{asset['id']}")
    outbox.drain()
    with tenant_scope(owner.workspace_id):
        entries = {e.event_type: e.summary for e in db.session.query(AuditEntry)}
    assert entries["assets.uploaded"] == "a file was added to the library: logo"
    assert entries["assets.deleted"] == "an asset and its files were deleted: logo"


def test_a_viewer_and_a_read_token_see_but_change_nothing(api, create_user, db, owner):
    from qrplatform.auth import services as accounts
    from qrplatform.auth.models import Membership

    asset = upload(owner, files.png(), "logo.png").json
    viewer_user = create_user()
    db.session.add(Membership(user_id=viewer_user.id, workspace_id=owner.workspace_id,
                              role="viewer"))
    db.session.commit()
    viewer = api(viewer_user, workspace_id=owner.workspace_id)
    owner_user = db.session.get(type(viewer_user), owner.user_id)
    _, read_token = accounts.create_token(owner_user, owner.workspace_id, "read",
                                          scopes=["read"])
    reader = type(owner)(owner.client, read_token, owner.user_id, owner.workspace_id)
    for who in (viewer, reader):
        assert who.get("/api/v1/assets").json["total"] == 1
        assert who.get(f"/api/v1/assets/{asset['id']}").status_code == 200
        assert upload(who, files.png(), "x.png").status_code == 403
        assert who.patch(f"/api/v1/assets/{asset['id']}", json={"name": "x"}).status_code == 403
        assert who.delete(f"/api/v1/assets/{asset['id']}").status_code == 403
        assert who.post("/api/v1/assets/uploads", json={
            "filename": "a.png", "content_type": "image/png", "bytes": 10}).status_code == 403
