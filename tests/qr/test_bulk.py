"""Bulk creation from a CSV: per-row errors, all-or-nothing unless bad rows are skipped, and
1,000 codes through a real RQ worker with progress, ending in a ZIP of decodable images."""

import contextvars
import csv
import io
import signal
import zipfile
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from qrp_qr.models import QRCode
from qrp_qr.render import MIME_TYPES
from qrplatform.tenancy import unscoped
from qrplatform.testing.pytest_plugin import set_plan
from tests.qr.conftest import decode_image


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def upload(caller, data: bytes, **form):
    return caller.post("/api/v1/qr-codes/bulk", data={
        "file": (io.BytesIO(data), "codes.csv"), **{k: str(v).lower() for k, v in form.items()}},
        content_type="multipart/form-data")


def count_codes(db) -> int:
    with unscoped():
        return db.session.scalar(select(func.count()).select_from(QRCode))


HALF_VALID = [["name", "url", "tags"],
              ["Table 1", "https://example.com/t/1", "tables;floor 1"],
              ["Broken", "not-a-url", ""],
              ["Table 3", "https://example.com/t/3", "tables"],
              ["Empty", "", ""]]


def test_bad_rows_refuse_the_whole_file_with_their_line_numbers(api, db):
    response = upload(api(), csv_bytes(HALF_VALID))
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert set(fields) == {"row 3", "row 5"}
    assert "web address" in fields["row 3"][0]
    assert "nothing was created" in response.json["error"]["message"]
    assert count_codes(db) == 0


def test_skipping_bad_rows_creates_the_others(api, db, client):
    caller = api()
    response = upload(caller, csv_bytes(HALF_VALID), skip_invalid=True)
    assert response.status_code == 202, response.json
    assert [s["row"] for s in response.json["skipped"]] == [3, 5]
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "finished", job
    assert job["result"]["created"] == 2
    codes = caller.get("/api/v1/qr-codes?tag=tables").json
    assert codes["total"] == 2 and {c["kind"] for c in codes["items"]} == {"dynamic"}


def run_rq_worker(app) -> None:
    """`flask jobs worker --burst`: a real forking RQ worker, as from a shell."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = contextvars.Context().run(app.test_cli_runner().invoke,
                                           args=["jobs", "worker", "--burst"])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_a_thousand_rows_through_a_real_rq_worker(make_app, db, redis, redis_url, create_user):
    from qrplatform.auth import services as auth

    rq_app = make_app(REDIS_URL=redis_url, QRP_JOBS_INLINE=False)
    user = create_user()
    set_plan(user.personal_workspace_id, "business")  # a thousand live dynamic codes
    _token, token = auth.create_token(user, user.personal_workspace_id, "bulk")
    client = rq_app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    rows = [["name", "url"]] + [[f"Code {i}", f"https://example.com/p/{i}"] for i in range(1000)]
    response = client.post("/api/v1/qr-codes/bulk", headers=bearer, data={
        "file": (io.BytesIO(csv_bytes(rows)), "codes.csv")}, content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    job_url = response.json["job_url"]
    assert client.get(job_url, headers=bearer).json["state"] == "queued"

    run_rq_worker(rq_app)

    job = client.get(job_url, headers=bearer).json
    assert job["state"] == "finished", job
    assert (job["done"], job["total"], job["percent"]) == (1000, 1000, 100)
    assert job["result"]["created"] == 1000 and job["result"]["skipped"] == []
    assert count_codes(db) == 1000

    listing = client.get("/api/v1/qr-codes?q=Code 99&per_page=100", headers=bearer).json
    by_name = {c["name"]: c for c in listing["items"]}
    download = client.get(job["files"][0]["url"], headers=bearer)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.get_data()))
    names = archive.namelist()
    assert sum(n.startswith("png/") for n in names) == 1000
    assert sum(n.startswith("svg/") for n in names) == 1000
    manifest = list(csv.DictReader(io.StringIO(archive.read("codes.csv").decode())))
    assert len(manifest) == 1000
    for entry in manifest[::97]:   # a sample of the ZIP's images, decoded for real
        image = Image.open(io.BytesIO(archive.read(entry["png"])))
        assert decode_image(image.convert("RGB")) == [entry["short_url"]]
    sample = by_name["Code 99"]
    assert sample["destination"] == "https://example.com/p/99"
    # The drawing processes stored each code's three files where its image URLs point.
    for fmt, url in sample["image_url"].items():
        stored = client.get(urlsplit(url).path)
        assert stored.status_code == 200 and stored.mimetype == MIME_TYPES[fmt], fmt
    assert next(e for e in manifest if e["name"] == "Code 99")["short_url"] == sample["short_url"]


def test_a_bulk_upload_is_one_audit_entry_with_its_count_and_its_codes_are_listed(api, db):
    from qrp_teams.models import AuditEntry
    from qrplatform.events import outbox
    from qrplatform.tenancy import tenant_scope

    caller = api()
    rows = [["name", "url"]] + [[f"Table {i}", f"https://example.com/t/{i}"] for i in range(3)]
    response = upload(caller, csv_bytes(rows))
    assert response.status_code == 202, response.json
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "finished", job
    batch = job["result"]["batch"]
    listed = caller.get(f"/api/v1/qr-codes?batch={batch}").json
    assert listed["total"] == 3 and {c["batch"] for c in listed["items"]} == {batch}
    assert caller.get("/api/v1/qr-codes?batch=another").json["total"] == 0
    outbox.drain()
    with tenant_scope(caller.workspace_id):
        entries = list(db.session.scalars(select(AuditEntry).where(
            AuditEntry.event_type.startswith("qr."))))
    assert [e.event_type for e in entries] == ["qr.bulk_created"]
    assert "3 codes from codes.csv" in entries[0].summary
    assert entries[0].actor_type == "user" and entries[0].actor_user_id == caller.user_id
