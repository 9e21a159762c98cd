"""Every CSV users download is inert in a spreadsheet: a cell starting with = + - @ tab or CR
is written as text (a leading '), in the bulk ZIP, both analytics exports and the audit CSV."""

import csv
import io
import zipfile

from tests.analytics.conftest import make_code, scan
from tests.qr.test_bulk import csv_bytes, upload

HOSTILE = ["=HYPERLINK(\"https://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)",
           "\tTAB", "\rCR"]
# Names are trimmed on the way in, so a leading tab or CR never reaches a code's name.
SURVIVE_CLEANING = HOSTILE[:4]


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def assert_inert(values):
    for value in values:
        assert value.startswith("'"), value
        assert value[1:] in [h.strip() for h in HOSTILE] + HOSTILE, value


def test_the_bulk_zip_listing_is_inert(api, db):
    caller = api()
    response = upload(caller, csv_bytes([["name", "url"]] + [
        [name, f"https://example.com/{i}"] for i, name in enumerate(SURVIVE_CLEANING)]))
    assert response.status_code == 202, response.json
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "finished", job
    archive = zipfile.ZipFile(io.BytesIO(caller.get(
        f"/api/v1/jobs/{job['id']}/files/zip").get_data()))
    listing = rows_of(archive.read("codes.csv").decode())
    assert len(listing) == len(SURVIVE_CLEANING)
    assert_inert([row["name"] for row in listing])


def test_both_analytics_exports_are_inert(api, client, app):
    owner = api()
    code = make_code(owner, name="=cmd|' /C calc'!A0")
    scan(client, code)
    app.extensions["qrp.stream"].flush()
    for kind in ("scans", "aggregates"):
        job_url = owner.post("/api/v1/analytics/exports",
                             json={"kind": kind, "range": "7d"}).json["status_url"]
        job = owner.get(job_url).json
        assert job["state"] == "finished", job
        text = owner.get(f"/api/v1/jobs/{job['id']}/files/csv").get_data(as_text=True)
        names = [row["code_name"] for row in rows_of(text) if row.get("code_name")]
        assert names and all(n == "'=cmd|' /C calc'!A0" for n in names), (kind, text)


def test_the_audit_csv_is_inert(db, client, create_user, login, api):
    from tests.teams.conftest import audit_entries

    owner = create_user(name="=Evil Owner")
    api(owner).post("/api/v1/teams/invitations", json={"email": "zed@example.com",
                                                       "role": "viewer"})
    assert audit_entries(db, owner.personal_workspace_id)
    login(owner)
    rows = rows_of(client.get("/team/audit.csv").get_data(as_text=True))
    assert rows and all(row["actor"].startswith("'=Evil Owner") for row in rows
                        if "Evil" in row["actor"])
    assert any("Evil" in row["actor"] for row in rows)


def test_numbers_stay_numbers():
    from qrplatform import csvfiles

    buffer = io.StringIO()
    csvfiles.writer(buffer).writerow([-5, 2.5, "-5", "plain"])
    assert buffer.getvalue().strip() == "-5,2.5,'-5,plain"
