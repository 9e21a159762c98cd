"""The deployment files for real: nginx (our site config) in front of gunicorn (our conf)."""

import pytest
import requests

from qrplatform.testing.servers import gunicorn, nginx

pytestmark = pytest.mark.slow


def test_page_through_nginx_and_gunicorn(db, database_url, tmp_path):
    with gunicorn(database_url, env={"QRP_PROXY_HOPS": "1"}) as (app_port, _process), \
            nginx(app_port, tmp_path) as (http_port, https_port):
        base = f"https://127.0.0.1:{https_port}"
        verify = str(tmp_path / "fullchain.pem")  # the test certificate nginx serves

        page = requests.get(f"{base}/login", verify=verify, timeout=10)
        assert page.status_code == 200
        assert "<h1>Log in</h1>" in page.text
        # The app saw HTTPS through X-Forwarded-Proto from exactly one trusted hop.
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        assert len(page.headers["X-Request-ID"]) == 32  # nginx's $request_id

        plain = requests.get(f"http://127.0.0.1:{http_port}/login", allow_redirects=False,
                             timeout=10)
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://127.0.0.1:{https_port}/login"

        static = requests.get(f"{base}/static/css/app.css", verify=verify, timeout=10,
                              headers={"Accept-Encoding": "gzip"})
        assert static.status_code == 200
        assert "max-age=2592000" in static.headers["Cache-Control"]
        assert static.headers["Content-Encoding"] == "gzip"

        ready = requests.get(f"{base}/readyz", verify=verify, timeout=10)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
