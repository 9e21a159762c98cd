"""The QR list and what it does to many codes at once: sort (scans come from the analytics
plugin through signals.code_scan_counts), filters, folders, tag/move/archive/restore/download,
all through the API and the page, scoped to the workspace; one audit entry per batch."""

import io
import zipfile
from datetime import UTC, datetime, timedelta

from PIL import Image
from sqlalchemy import select

from qrp_analytics.ingest import ingest_batch
from qrp_qr.models import QRCode
from qrp_teams.models import AuditEntry
from qrplatform.events import Event, outbox
from qrplatform.tenancy import tenant_scope, unscoped
from qrplatform.testing.pytest_plugin import csrf_token, set_plan
from tests.qr.conftest import decode_image


def make(caller, name, **body):
    slug = name.replace(" ", "-")
    body = {"kind": "dynamic", "type": "url", "destination": f"https://example.com/{slug}",
            **body}
    response = caller.post("/api/v1/qr-codes", json={"name": name, **body})
    assert response.status_code == 201, response.json
    return response.json


def scan(code, workspace_id, times, days_ago=0):
    # Seconds into this hour: minutes before it fell on the day before from 00:00 to 01:00 UTC.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    events = [Event(type="qr.scanned", workspace_id=workspace_id,
                    occurred_at=(hour + timedelta(seconds=i)).isoformat(),
                    data={"code_id": code["id"], "short_code": code["short_code"],
                          "method": "GET", "user_agent": "Mozilla/5.0 (iPhone)",
                          "referrer": None, "country": "DE", "language": "de",
                          "ip_hash": f"{i:064x}", "visitor_hash": f"{i:032x}",
                          "classification": "human", "reason": None, "outcome": "redirected"})
              for i in range(times)]
    with unscoped():
        ingest_batch(events)


def audit(db, workspace_id):
    outbox.drain()
    with tenant_scope(workspace_id):
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def names(listing):
    return [item["name"] for item in listing.json["items"]]


def test_sort_by_name_date_and_scans_with_validated_parameters(api, db):
    caller = api()
    set_plan(caller.workspace_id, "business")
    beta, alpha, gamma = make(caller, "beta"), make(caller, "Alpha"), make(caller, "gamma")
    scan(gamma, caller.workspace_id, 3)
    scan(beta, caller.workspace_id, 5, days_ago=2)
    scan(alpha, caller.workspace_id, 9, days_ago=8)   # outside the 7 days
    assert names(caller.get("/api/v1/qr-codes?sort=name")) == ["Alpha", "beta", "gamma"]
    assert names(caller.get("/api/v1/qr-codes?sort=oldest")) == ["beta", "Alpha", "gamma"]
    assert names(caller.get("/api/v1/qr-codes")) == ["gamma", "Alpha", "beta"]
    assert names(caller.get("/api/v1/qr-codes?sort=scans")) == ["beta", "gamma", "Alpha"]
    second = caller.get("/api/v1/qr-codes?sort=scans&per_page=1&page=2")
    assert names(second) == ["gamma"] and second.json["total"] == 3
    for bad in ("sort=popular", "per_page=101", "folder_id=0", "batch=" + "x" * 33):
        refused = caller.get(f"/api/v1/qr-codes?{bad}")
        assert refused.status_code == 422, bad
        assert set(refused.json["error"]["fields"]) <= {"sort", "per_page", "folder_id", "batch"}


def test_the_list_page_shows_scans_sparkline_copy_button_and_named_thumbnails(
        api, db, client, login, create_user):
    user = create_user()
    caller = api(user)
    menu = make(caller, "Menu", tags=["menus"])
    make(caller, "Wifi", kind="static", type="wifi",
         content={"ssid": "Cafe", "password": "espresso42", "security": "WPA"})
    scan(menu, caller.workspace_id, 4)
    login(user)
    page = client.get("/qr/").get_data(as_text=True)
    assert 'alt="QR code “Menu”"' in page
    assert f'data-copy="{menu["short_url"]}"' in page
    assert "Scans · 7 days" in page
    assert 'aria-label="Scans by people per day, last 7 days: 0, 0, 0, 0, 0, 0, 4"' in page
    assert "not counted" in page                 # a static code has no scans to count
    fragment = client.get("/qr/?q=men", headers={"HX-Request": "true"})
    assert fragment.headers["Vary"].count("HX-Request") == 1
    text = fragment.get_data(as_text=True)
    assert "Menu" in text and "Wifi" not in text and "<html" not in text


def test_the_scans_column_and_sort_need_a_plugin_that_counts_scans(make_app, db, create_user):
    from qrplatform.auth import services as auth

    bare = make_app(QRP_PLUGINS=["qr"])
    user = create_user()
    _token, token = auth.create_token(user, user.personal_workspace_id, "t")
    client = bare.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    for name in ("b", "a"):
        assert client.post("/api/v1/qr-codes", headers=bearer, json={
            "name": name, "kind": "dynamic", "type": "url",
            "destination": "https://example.com"}).status_code == 201
    # Without analytics "scans" falls back to newest first, and no column shows zeros.
    listing = client.get("/api/v1/qr-codes?sort=scans", headers=bearer).json
    assert [c["name"] for c in listing["items"]] == ["a", "b"]


def test_folders_through_the_api(api, db):
    caller = api()
    created = caller.post("/api/v1/qr-folders", json={"name": "Menus"})
    assert created.status_code == 201 and created.json["codes"] == 0
    folder_id = created.json["id"]
    clash = caller.post("/api/v1/qr-folders", json={"name": "menus"})
    assert clash.status_code == 422 and "name" in clash.json["error"]["fields"]
    assert caller.post("/api/v1/qr-folders", json={"name": ""}).status_code == 422
    assert caller.post("/api/v1/qr-folders", json={"name": "x" * 101}).status_code == 422
    inside = make(caller, "In", folder_id=folder_id)
    outside = make(caller, "Out")
    assert inside["folder_id"] == folder_id and outside["folder_id"] is None
    listing = caller.get(f"/api/v1/qr-codes?folder_id={folder_id}").json
    assert [c["name"] for c in listing["items"]] == ["In"]
    assert caller.get(f"/api/v1/qr-folders/{folder_id}").json["codes"] == 1
    moved = caller.patch(f"/api/v1/qr-codes/{outside['id']}", json={"folder_id": folder_id})
    assert moved.status_code == 200 and moved.json["folder_id"] == folder_id
    renamed = caller.patch(f"/api/v1/qr-folders/{folder_id}", json={"name": "Menus 2027"})
    assert renamed.status_code == 200 and renamed.json["name"] == "Menus 2027"
    assert [f["name"] for f in caller.get("/api/v1/qr-folders").json] == ["Menus 2027"]
    assert caller.delete(f"/api/v1/qr-folders/{folder_id}").status_code == 204
    assert caller.get(f"/api/v1/qr-codes/{inside['id']}").json["folder_id"] is None
    assert caller.get(f"/api/v1/qr-folders/{folder_id}").status_code == 404


def test_folders_and_bulk_actions_never_cross_workspaces(api, db):
    ours, theirs = api(), api()
    their_folder = theirs.post("/api/v1/qr-folders", json={"name": "Theirs"}).json["id"]
    their_code = make(theirs, "Theirs")
    mine = make(ours, "Mine")
    for response in (ours.get(f"/api/v1/qr-folders/{their_folder}"),
                     ours.patch(f"/api/v1/qr-folders/{their_folder}", json={"name": "x"}),
                     ours.delete(f"/api/v1/qr-folders/{their_folder}"),
                     ours.get(f"/api/v1/qr-codes?folder_id={their_folder}"),
                     ours.post("/api/v1/qr-codes", json={
                         "name": "x", "type": "url", "destination": "https://example.com",
                         "folder_id": their_folder}),
                     ours.patch(f"/api/v1/qr-codes/{mine['id']}",
                                json={"folder_id": their_folder}),
                     ours.post("/api/v1/qr-codes/bulk-actions", json={
                         "action": "move", "ids": [mine["id"]], "folder_id": their_folder})):
        assert response.status_code == 404, response.json
    assert ours.get("/api/v1/qr-folders").json == []
    for action in ("tag", "archive", "move", "download"):
        refused = ours.post("/api/v1/qr-codes/bulk-actions", json={
            "action": action, "ids": [mine["id"], their_code["id"]], "tag": "x"})
        assert refused.status_code == 404, (action, refused.json)
        assert "1 of the chosen codes" in refused.json["error"]["message"]
    theirs_now = theirs.get(f"/api/v1/qr-codes/{their_code['id']}").json
    assert theirs_now["tags"] == [] and theirs_now["state"] == "active"
    assert ours.get(f"/api/v1/qr-codes/{mine['id']}").json["tags"] == []


def test_bulk_actions_tag_move_archive_restore_all_or_none_with_a_cap(api, db):
    caller = api()
    codes = [make(caller, f"Code {i}") for i in range(3)]
    ids = [c["id"] for c in codes]
    folder = caller.post("/api/v1/qr-folders", json={"name": "Flyers"}).json["id"]

    def act(**body):
        return caller.post("/api/v1/qr-codes/bulk-actions", json=body)

    tagged = act(action="tag", ids=ids, tag="Spring ")
    assert tagged.status_code == 200 and tagged.json == {"action": "tag", "count": 3}
    assert act(action="tag", ids=ids, tag="spring").json["count"] == 0   # already there
    assert caller.get("/api/v1/qr-codes?tag=spring").json["total"] == 3
    assert act(action="untag", ids=ids[:1], tag="spring").json["count"] == 1
    assert act(action="move", ids=ids, folder_id=folder).json["count"] == 3
    assert caller.get(f"/api/v1/qr-codes?folder_id={folder}").json["total"] == 3
    assert act(action="move", ids=ids[:1], folder_id=None).json["count"] == 1
    archived = act(action="archive", ids=ids[1:])
    assert archived.json["count"] == 2
    assert caller.get("/api/v1/qr-codes").json["total"] == 1
    short = caller.client.get(f"/r/{codes[1]['short_code']}")
    assert short.status_code == 410                 # the link stopped redirecting at once
    assert act(action="restore", ids=ids).json["count"] == 2
    assert caller.client.get(f"/r/{codes[1]['short_code']}").status_code == 302

    for body, field in (({"action": "explode", "ids": ids}, "action"),
                        ({"action": "tag", "ids": []}, "ids"),
                        ({"action": "tag", "ids": list(range(1, 502)), "tag": "x"}, "ids"),
                        ({"action": "tag", "ids": ids}, "tag"),
                        ({"action": "tag", "ids": ids, "tag": "x" * 51}, "tag"),
                        ({"action": "tag", "ids": ["one"], "tag": "x"}, "ids")):
        refused = act(**body)
        assert refused.status_code == 422, body
        assert field in refused.json["error"]["fields"], refused.json

    entries = [e for e in audit(db, caller.workspace_id) if e.event_type.startswith("qr.")]
    changes = [e for e in entries if e.event_type != "qr.created"]
    assert [e.event_type for e in changes] == ["qr.folder_created"] + ["qr.bulk_changed"] * 6
    assert "3 codes tagged “spring”" in changes[1].summary
    assert "2 codes archived" in changes[5].summary


def test_download_many_as_a_zip_made_by_a_job(api, db):
    caller = api()
    codes = [make(caller, f"Poster {i}") for i in range(3)]
    started = caller.post("/api/v1/qr-codes/bulk-actions",
                          json={"action": "download", "ids": [c["id"] for c in codes]})
    assert started.status_code == 202, started.json
    job = caller.get(started.json["job_url"]).json
    assert job["state"] == "finished" and (job["done"], job["total"]) == (3, 3), job
    archive = zipfile.ZipFile(io.BytesIO(caller.get(job["files"][0]["url"]).get_data()))
    pngs = sorted(n for n in archive.namelist() if n.startswith("png/"))
    assert len(pngs) == 3 and sum(n.startswith("svg/") for n in archive.namelist()) == 3
    decoded = {decode_image(Image.open(io.BytesIO(archive.read(n))).convert("RGB"))[0]
               for n in pngs}
    assert decoded == {c["short_url"] for c in codes}


def test_the_page_acts_on_the_chosen_codes_and_manages_folders(client, create_user, login,
                                                               api, db):
    user = create_user()
    caller = api(user)
    codes = [make(caller, f"Sign {i}") for i in range(2)]
    login(user)
    token = csrf_token(client, "/qr/")
    created = client.post("/qr/folders", data={"csrf_token": token, "name": "Signs"})
    assert created.status_code == 302
    folder_id = caller.get("/api/v1/qr-folders").json[0]["id"]
    done = client.post("/qr/actions", data={
        "csrf_token": token, "action": "move", "folder_id": str(folder_id),
        "ids": [str(c["id"]) for c in codes], "back": "/qr/?sort=name"})
    assert done.status_code == 302 and done.headers["Location"] == "/qr/?sort=name"
    page = client.get(f"/qr/?folder={folder_id}").get_data(as_text=True)
    assert "Moved 2 codes." in page and "Sign 0" in page
    elsewhere = client.post("/qr/actions", data={
        "csrf_token": token, "action": "tag", "tag": "x", "ids": [str(codes[0]["id"])],
        "back": "https://evil.example/"})
    assert elsewhere.headers["Location"] == "/qr/"
    refused = client.post("/qr/actions", data={"csrf_token": token, "action": "tag",
                                               "ids": [str(codes[0]["id"])]})
    assert "Give a tag." in client.get(refused.headers["Location"]).get_data(as_text=True)
    download = client.post("/qr/actions", data={"csrf_token": token, "action": "download",
                                                "ids": [str(c["id"]) for c in codes]})
    assert "/qr/bulk/jobs/" in download.headers["Location"]
    job_page = client.get(download.headers["Location"]).get_data(as_text=True)
    assert "Download the ZIP" in job_page
    deleted = client.post(f"/qr/folders/{folder_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    assert caller.get("/api/v1/qr-folders").json == []
    with unscoped():
        assert {c.folder_id for c in db.session.scalars(select(QRCode))} == {None}
