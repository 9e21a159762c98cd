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

from qrp_qr import bulk
from qrp_qr.models import TYPES, QRCode
from qrp_qr.render import MIME_TYPES
from qrplatform.events.models import OutboxEvent
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


def test_a_code_that_fails_after_others_were_saved_leaves_nothing_behind(api, db):
    """Chunks are saved as they are drawn; a row that cannot be drawn (too much text for a QR
    code) after two chunks were saved fails the job and takes them back, events included.
    Skipping bad rows keeps the others and names the row."""
    rows = [["name", "text"]] + [[f"Note {i}", f"Note number {i}"] for i in range(12)]
    rows[12][1] = "€" * 2000      # 6,000 bytes: more than any QR code holds
    caller = api()
    response = upload(caller, csv_bytes(rows), kind="static", type="text")
    assert response.status_code == 202, response.json
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "failed", job
    assert "1 code(s) would not scan (first: row 13: Too much content" in job["error"], job
    assert "nothing was created" in job["error"]
    assert count_codes(db) == 0
    with unscoped():
        assert db.session.query(OutboxEvent).filter(
            OutboxEvent.type.in_(["qr.created", "qr.bulk_created"])).count() == 0

    response = upload(caller, csv_bytes(rows), kind="static", type="text", skip_invalid=True)
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "finished", job
    assert job["result"]["created"] == 11 and count_codes(db) == 11
    assert [skipped["row"] for skipped in job["result"]["skipped"]] == [13]
    archive = zipfile.ZipFile(io.BytesIO(caller.get(
        job["files"][0]["url"].split("http://localhost", 1)[-1]).get_data()))
    assert sum(name.startswith("png/") for name in archive.namelist()) == 11


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


def test_each_row_carries_its_scan_grade_computed_where_it_was_drawn(api, db):
    """A styled template (rounded modules, frame, a big logo): the job's result counts the
    grades; codes.csv gives each row's grade, failing conditions and the row whose code was
    graded (one per code size), and they are what the API says of that row's code."""
    caller = api()
    logo = io.BytesIO()
    Image.new("RGBA", (64, 64), (200, 30, 30, 255)).save(logo, "PNG")
    uploaded = caller.post("/api/v1/qr-codes/logos", data={"file": (io.BytesIO(
        logo.getvalue()), "logo.png")}, content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.json
    template = caller.post("/api/v1/qr-design-templates", json={"name": "Loud", "design": {
        "module_style": "rounded", "frame": "box", "logo": uploaded.json["logo"],
        "logo_size": 0.3, "error_correction": "H"}})
    assert template.status_code == 201, template.json
    rows = [["name", "url"]] + [[f"Stall {i}", f"https://example.com/s/{i}"] for i in range(4)]
    response = upload(caller, csv_bytes(rows), design_template_id=template.json["id"])
    assert response.status_code == 202, response.json
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "finished", job
    grades = job["result"]["grades"]
    assert sum(grades.values()) == 4 and set(grades) == {"A", "B", "C", "D", "E"}
    assert grades["E"] == 0
    download = caller.get(job["files"][0]["url"].split("http://localhost", 1)[-1])
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(download.get_data()))
    manifest = list(csv.DictReader(io.StringIO(archive.read("codes.csv").decode())))
    assert len(manifest) == 4
    by_row = {entry["row"]: entry for entry in manifest}
    for entry in manifest:
        graded = by_row[entry["scan_grade_of_row"]]
        alone = caller.get(f"/api/v1/qr-codes/{graded['id']}").json["scan_grade"]
        assert entry["scan_grade"] == alone["grade"], (entry, alone)
        assert entry["scan_grade_failing"] == "; ".join(f["label"] for f in alone["failing"])
    assert {e["scan_grade_of_row"] for e in manifest} == {"2"}   # one size, drawn in-process
    assert {e["scan_grade"] for e in manifest} != {"A"}   # the big logo costs something


def test_the_job_page_counts_the_grades_and_names_the_rows_graded_d(api, client, create_user,
                                                                     login):
    """A design that scans but many phones will fail (grade D: pale dots, a thin quiet zone,
    error correction L): the codes are made, and the page says which rows are warned, why."""
    user = create_user()
    caller = api(user)
    template = caller.post("/api/v1/qr-design-templates", json={"name": "Pale", "design": {
        "module_style": "dots", "eye_style": "circle", "quiet_zone": 1,
        "foreground": "#8a8a8a", "error_correction": "L"}})
    assert template.status_code == 201, template.json
    rows = [["name", "url"]] + [[f"Stall {i}", f"https://x.example/AbCdEf1{i}"]
                                for i in range(3)]
    response = upload(caller, csv_bytes(rows), kind="static",
                      design_template_id=template.json["id"])
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "finished", job
    assert job["result"]["grades"]["D"] == 3, job["result"]["grades"]
    login(user)
    page = client.get(f"/qr/bulk/jobs/{job['id']}").get_data(as_text=True)
    assert 'class="qr-grade qr-grade-d"' in page and "3 codes" in page
    assert "3 code(s) graded D" in page
    for line in (2, 3, 4):
        assert f"Line {line}: Scan grade D" in page


@pytest.mark.parametrize("qr_type", sorted(bulk.SAMPLE_ROWS))
def test_each_types_sample_file_is_a_valid_upload(api, db, qr_type):
    caller = api()
    sample = caller.get(f"/api/v1/qr-codes/bulk/sample?type={qr_type}")
    assert sample.status_code == 200 and sample.mimetype == "text/csv"
    assert f"qr-codes-{qr_type}-sample.csv" in sample.headers["Content-Disposition"]
    header = next(csv.reader(io.StringIO(sample.get_data(as_text=True))))
    assert header[0] == "name" and header[-1] == "tags"
    checked = caller.post("/api/v1/qr-codes/bulk/check", data={
        "file": (io.BytesIO(sample.get_data()), "sample.csv"), "type": qr_type,
        "kind": "static"}, content_type="multipart/form-data")
    assert checked.status_code == 200, checked.json
    assert (checked.json["rows"], checked.json["invalid"]) == (2, []), checked.json
    assert count_codes(db) == 0


def test_every_type_has_a_sample():
    assert set(bulk.SAMPLE_ROWS) == set(TYPES)


def check(caller, data: bytes, **form):
    return caller.post("/api/v1/qr-codes/bulk/check", data={
        "file": (io.BytesIO(data), "codes.csv"), **form}, content_type="multipart/form-data")


def test_the_check_says_what_a_file_would_make_and_makes_nothing(api, db):
    caller = api()   # the free plan: 25 live dynamic codes
    for i in range(20):
        assert caller.post("/api/v1/qr-codes", json={
            "kind": "dynamic", "type": "url", "destination": f"https://example.com/{i}"
        }).status_code == 201
    rows = [["name", "url"]] + [[f"Table {i}", f"https://example.com/t/{i}"] for i in range(8)]
    over = check(caller, csv_bytes([*rows, ["Broken", "not-a-url"]]))
    assert over.status_code == 200, over.json
    body = over.json
    assert (body["rows"], body["dynamic"], body["within_plan"]) == (8, 8, False)
    assert [e["row"] for e in body["invalid"]] == [10]
    assert body["room"]["dynamic"] == 5
    assert "allows 25" in body["plan_message"]
    # The same refusal as the upload itself gives.
    refused = upload(caller, csv_bytes(rows), skip_invalid=True)
    assert refused.status_code == 402
    assert refused.json["error"]["message"] == body["plan_message"]
    # Static codes fit.
    static = check(caller, csv_bytes(rows), kind="static").json
    assert (static["rows"], static["dynamic"], static["within_plan"]) == (8, 0, True)
    assert static["plan_message"] is None
    assert count_codes(db) == 20


def test_the_check_refuses_what_is_no_csv_and_bad_choices(api, db):
    caller = api()
    broken = check(caller, b"\xff\xfe\x00not utf-8")
    assert broken.status_code == 422 and "file" in broken.json["error"]["fields"]
    assert check(caller, b"name,url\n", type="nonsense").status_code == 422
    assert caller.get("/api/v1/qr-codes/bulk/sample?type=nonsense").status_code == 422


def test_a_viewer_may_download_the_sample_but_not_check(api, db, create_user):
    from qrplatform.auth.models import Membership

    owner = api()
    viewer_user = create_user()
    db.session.add(Membership(user_id=viewer_user.id, workspace_id=owner.workspace_id,
                              role="viewer"))
    db.session.commit()
    viewer = api(viewer_user, workspace_id=owner.workspace_id)
    assert viewer.get("/api/v1/qr-codes/bulk/sample").status_code == 200
    assert check(viewer, b"name,url\nA,https://example.com\n").status_code == 403


def test_on_sqlite_a_bulk_of_many_chunks_reports_progress_and_finishes(make_app, tmp_path,
                                                                      monkeypatch):
    """The embedded default: SQLite lets one connection write at a time, so a transaction
    held open while the codes are drawn kept the job's own progress from being written
    ("database is locked" after SQLite's wait, and the job failed). There the codes are
    saved once all are drawn; the progress moves meanwhile, on its own connection."""
    from flask_migrate import upgrade

    from qrp_qr import drawing
    from qrplatform import jobs
    from qrplatform.auth import services as auth
    from qrplatform.extensions import db
    from qrplatform.testing.pytest_plugin import ApiClient

    monkeypatch.setattr(drawing, "IN_PROCESS_CHUNK", 2)     # twenty rows: ten chunks
    written: list[str] = []
    update_row = jobs._update_row

    def recorded(job_id, **values):
        update_row(job_id, **values)          # raises when the database is locked
        written.append(values.get("message", ""))

    monkeypatch.setattr(jobs, "_update_row", recorded)
    embedded = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'embedded.db'}",
                        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 1}})
    with embedded.app_context():
        upgrade(revision="heads")
        user, workspace = auth.signup("embedded@example.com", "long enough pw", "Embedded")
        _token, plain = auth.create_token(user, workspace.id, "tests")
        db.session.commit()
        caller = ApiClient(embedded.test_client(), plain, user.id, workspace.id)
        rows = [["name", "url"]] + [[f"Shelf {i}", f"https://example.com/s/{i}"]
                                    for i in range(20)]
        response = upload(caller, csv_bytes(rows), kind="static")
        assert response.status_code == 202, response.json
        job = caller.get(response.json["job_url"]).json
        assert job["state"] == "finished", job
        assert job["result"]["created"] == 20 and job["message"] == "20 codes created"
        assert count_codes(db) == 20
    assert "Drew and checked 10 of 20 codes" in written, written
    assert written.index("Saving 20 codes") > written.index("Drew and checked 20 of 20 codes")


@pytest.mark.parametrize("remote", [False, True], ids=["local folder", "S3"])
def test_the_drawing_stores_every_file_uploading_to_s3_in_threads_and_writing_a_folder_at_once(
        remote, tmp_path, request):
    """A put to S3 is a round trip: files upload in threads while codes are drawn. A local
    write is cheaper done at once than handed to a thread."""
    import threading

    from qrp_qr import drawing
    from qrplatform.storage import make_backend

    settings = request.getfixturevalue("s3_config") if remote else {
        "QRP_STORAGE_DIR": str(tmp_path), "PUBLIC_BASE_URL": "http://localhost"}
    backend = make_backend(settings)
    assert backend.remote is remote
    items = [drawing.Item(i, f"https://qr.example/r/store{i}",
                          tuple(f"qr/test/{i}.{fmt}" for fmt in ("png", "svg", "pdf")))
             for i in range(6)]
    threads = threading.active_count()
    with drawing.DrawingPool(1, settings, backend) as pool:
        drawn = [code for chunk in pool.draw(items, {}) for code in chunk]
        uploaders = threading.active_count() - threads
    assert [code.error for code in drawn] == [None] * 6
    assert all(backend.exists(key) for item in items for key in item.keys)
    assert (uploaders > 0) is remote


def test_a_template_saved_under_an_older_rule_is_refused_at_upload_saying_why(api, db):
    """A template whose label today's rule refuses (saved before labels were held to what the
    files can set) is refused with the file, naming what to change, before any job starts."""
    from qrp_qr.models import QRDesignTemplate

    caller = api()
    template = caller.post("/api/v1/qr-design-templates", json={
        "name": "Old", "design": {"frame": "box", "frame_text": "Menu"}})
    assert template.status_code == 201, template.json
    with unscoped():
        saved = db.session.get(QRDesignTemplate, template.json["id"])
        saved.design = {**saved.design, "frame_text": "\u041c\u0435\u043d\u044e"}   # Russian
        db.session.commit()
    response = upload(caller, csv_bytes(HALF_VALID[:2]), design_template_id=template.json["id"])
    assert response.status_code == 422, response.json
    message = response.json["error"]["fields"]["design_template_id"][0]
    assert "Its design cannot be used: The label's font has no" in message
    assert "Edit the template" in message
    assert count_codes(db) == 0
