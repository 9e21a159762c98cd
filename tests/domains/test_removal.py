"""Never breaking printed codes: what uses a domain (codes, scans in 30 days through the real
analytics pipeline), its redirect map as an inert CSV, moving its codes to the platform's domain
with a job, and removing it. (Its CSV is written by the core's inert writer, csvfiles.)"""

import csv
import io

import zxingcpp
from PIL import Image

from tests.domains.conftest import make_code, verified

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def decode(client, url: str) -> str:
    png = client.get(url.replace("http://localhost", "")).data
    [text] = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    return text


def test_usage_redirect_map_move_and_remove(app, client, dns, pro):
    owner = pro()
    domain = verified(owner, dns)
    name = domain["name"]
    scanned = make_code(owner, domain=name, destination="https://example.com/menu",
                        name="Menu")
    retired = make_code(owner, domain=name, destination="https://example.com/old")
    owner.delete(f"/api/v1/qr-codes/{retired['id']}")
    elsewhere = make_code(owner, destination="https://example.com/platform")

    stream = app.extensions["qrp.stream"]
    stream.discard()
    for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        response = client.get(f"/{scanned['short_code']}", base_url=f"https://{name}",
                              headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": ip})
        assert response.status_code == 302
    stream.flush()   # into the analytics plugin (embedded setup)

    usage = owner.get(f"/api/v1/domains/{domain['id']}/usage").json
    assert usage == {"codes": 2, "active_codes": 1, "scans_30_days": 3, "read_only": False,
                     "read_only_reason": None}

    refused = owner.delete(f"/api/v1/domains/{domain['id']}")
    assert refused.status_code == 409
    assert refused.json["error"]["message"].startswith(
        f"2 QR code(s) use {name} and had 3 scans in the last 30 days")

    exported = owner.get(f"/api/v1/domains/{domain['id']}/redirect-map")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows == [["short_url", "destination"],
                    [f"https://{name}/{scanned['short_code']}", "https://example.com/menu"],
                    [f"https://{name}/{retired['short_code']}", "https://example.com/old"]]

    moving = owner.post(f"/api/v1/domains/{domain['id']}/move-codes")
    assert moving.status_code == 202
    job = owner.get(moving.json["job_url"]).json
    assert job["state"] == "finished" and job["result"] == {"moved": 2, "domain": name}
    moved = owner.get(f"/api/v1/qr-codes/{scanned['id']}").json
    assert moved["domain"] is None
    assert moved["short_url"] == f"http://localhost/r/{scanned['short_code']}"
    assert decode(client, moved["image_url"]["png"]) == moved["short_url"]   # redrawn
    assert owner.get(f"/api/v1/qr-codes/{elsewhere['id']}").json["domain"] is None
    # Printed copies with the domain still work while it points at us.
    assert client.get(f"/{scanned['short_code']}", base_url=f"https://{name}").status_code == 302

    assert owner.get(f"/api/v1/domains/{domain['id']}/usage").json["codes"] == 0
    assert owner.delete(f"/api/v1/domains/{domain['id']}").status_code == 204
    assert owner.get(f"/api/v1/domains/{domain['id']}").status_code == 404
    assert client.get(f"/{scanned['short_code']}", base_url=f"https://{name}").status_code == 404


def test_forced_removal_moves_the_codes_to_the_platform(app, dns, pro):
    owner = pro()
    domain = verified(owner, dns)
    code = make_code(owner, domain=domain["name"])
    removed = owner.delete(f"/api/v1/domains/{domain['id']}?force=true")
    assert removed.status_code == 202
    assert owner.get(removed.json["job_url"]).json["state"] == "finished"
    assert owner.get(f"/api/v1/qr-codes/{code['id']}").json["domain"] is None
    assert [e for e in owner.get("/api/v1/domains").json] == []
