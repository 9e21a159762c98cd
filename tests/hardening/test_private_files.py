"""Private outputs stay private: a job's files (bulk ZIP, exports) and uploaded CSVs only through
authenticated routes, never at /files/; QR image keys are keyed hashes nobody can compute."""

import hashlib
import json
from pathlib import Path

from tests.qr.test_bulk import csv_bytes, upload

ROWS = [["name", "url"], ["One", "https://example.com/1"], ["Two", "https://example.com/2"]]


def finished_bulk_job(caller) -> dict:
    response = upload(caller, csv_bytes(ROWS))
    assert response.status_code == 202, response.json
    job = caller.get(response.json["job_url"]).json
    assert job["state"] == "finished", job
    return job


def test_a_token_downloads_the_bulk_zip_through_the_api(api, client):
    caller = api()
    job = finished_bulk_job(caller)
    [zip_file] = job["files"]
    assert zip_file == {"name": "zip", "url": f"/api/v1/jobs/{job['id']}/files/zip"}
    assert "files" not in job["result"] and "zip_key" not in job["result"]
    download = caller.get(zip_file["url"])
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "private, no-store"

    assert client.get(zip_file["url"]).status_code == 401
    stranger = api().get(zip_file["url"])
    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "not_found"
    assert caller.get(f"/api/v1/jobs/{job['id']}/files/other").status_code == 404


def test_a_job_file_gone_from_storage_says_so(api, storage_dir):
    caller = api()
    job = finished_bulk_job(caller)
    for stored in Path(storage_dir).rglob("*.zip"):
        stored.unlink()
    gone = caller.get(job["files"][0]["url"])
    assert gone.status_code == 404
    assert gone.json["error"]["message"] == (
        "The file is no longer stored; make it again (run the export or job anew).")


def test_the_browser_link_needs_the_session(api, client, login, create_user):
    user = create_user()
    job = finished_bulk_job(api(user))
    assert client.get(job["result"]["download_url"]).status_code == 302  # to the login page
    login(user)
    page_download = client.get(job["result"]["download_url"])
    assert page_download.status_code == 200 and page_download.mimetype == "application/zip"


def test_nothing_private_is_served_at_files(app, api, client, storage_dir):
    caller = api()
    finished_bulk_job(caller)
    export = caller.post("/api/v1/analytics/exports", json={"kind": "aggregates"}).json
    assert caller.get(export["status_url"]).json["state"] == "finished"
    root = Path(storage_dir)
    stored = [str(p.relative_to(root)) for p in root.rglob("*")
              if p.is_file() and ".meta" not in p.parts]
    private = [key for key in stored if key.startswith("private/")]
    assert any(key.endswith(".zip") for key in private)
    assert any(key.endswith(".csv") and "/bulk/" in key for key in private)
    assert any("exports" in key for key in private)
    assert not [key for key in stored if key.startswith(("bulk/", "exports/"))]
    for key in private:
        assert client.get(f"/files/{key}").status_code == 404, key


def test_the_openapi_document_offers_the_job_files(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert "get" in paths["/api/v1/jobs/{job_id}/files/{name}"]


def test_qr_image_keys_cannot_be_computed_from_the_content(api, make_app, app):
    from qrp_qr import render

    caller = api()
    code = caller.post("/api/v1/qr-codes", json={
        "type": "wifi", "kind": "static",
        "content": {"ssid": "Home", "security": "WPA", "password": "guessable1"}}).json
    png_url = code["image_url"]["png"]
    assert caller.get(png_url.replace("http://localhost", "")).status_code == 200
    # what anyone could compute: a plain hash of the payload and design
    text = "WIFI:T:WPA;S:Home;P:guessable1;;"
    material = json.dumps([render.RENDER_VERSION, text, code["design"], "png",
                           render.DEFAULT_SIZE], sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(material.encode()).hexdigest() not in png_url
    other = make_app(SECRET_KEY="another secret")
    with other.test_request_context():
        from qrp_qr import services

        assert services.image_key(text, code["design"], "png", render.DEFAULT_SIZE) \
            not in png_url


def test_old_image_keys_are_redrawn_and_removed(app, api, storage_dir):
    from qrp_qr import render
    from qrp_qr.cli import _legacy_image_key
    from qrplatform.storage import storage

    caller = api()
    code = caller.post("/api/v1/qr-codes", json={"type": "text", "kind": "static",
                                                 "content": {"text": "secret note"}}).json
    root = Path(storage_dir)
    new_png = root / code["image_url"]["png"].split("/files/", 1)[1]
    new_png.unlink()  # as for a code made before the keys were keyed
    with app.test_request_context():
        legacy = _legacy_image_key("secret note", code["design"], "png", render.DEFAULT_SIZE)
        storage().put(legacy, b"old image", content_type="image/png", immutable=True)
    result = app.test_cli_runner().invoke(args=["qr", "rekey-images"])
    assert result.exit_code == 0, result.output
    assert new_png.is_file() and not (root / legacy).exists()
