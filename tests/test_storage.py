"""Object storage: S3 against moto's server, and the embedded folder with its file server."""

import io
import json
import os
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from botocore.exceptions import ClientError

from qrplatform.storage import IMMUTABLE, PRIVATE, content_key, send_private, storage

PNG = b"\x89PNG\r\n\x1a\n" + b"pretend image data " * 20


def public_read(bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}


def test_s3_put_get_delete_and_url_with_cache_headers(make_s3_app, moto_server, s3_bucket):
    app = make_s3_app()
    s3 = moto_server.client("s3")
    with app.app_context():
        store = storage()
        key = content_key(PNG, "png")
        assert key == content_key(PNG, ".png"), "same bytes, same key"

        url = store.put(key, PNG, immutable=True)

        assert url == f"{moto_server.url}/{s3_bucket}/{key}"
        assert store.get(key) == PNG
        head = s3.head_object(Bucket=s3_bucket, Key=key)
        assert head["ContentType"] == "image/png"
        assert head["CacheControl"] == IMMUTABLE
        # With the bucket readable by anyone (as production's bucket or CDN origin is), the
        # public URL serves the file.
        s3.put_bucket_policy(Bucket=s3_bucket, Policy=json.dumps(public_read(s3_bucket)))
        with urlopen(url) as response:
            assert response.read() == PNG

        report = store.put("exports/7/scans.csv", b"day,scans\n", content_type="text/csv")
        head = s3.head_object(Bucket=s3_bucket, Key="exports/7/scans.csv")
        assert head["ContentType"] == "text/csv"
        assert head["CacheControl"] == PRIVATE
        assert report.endswith("/exports/7/scans.csv")

        store.delete(key)
        assert not store.exists(key)
        with pytest.raises(KeyError):
            store.get(key)
        with pytest.raises(ClientError):
            s3.head_object(Bucket=s3_bucket, Key=key)


def test_s3_urls_start_with_cdn_base_url(make_s3_app, moto_server, s3_bucket):
    app = make_s3_app(CDN_BASE_URL="https://cdn.example.com/")
    with app.app_context():
        key = content_key(PNG, "png")
        url = storage().put(key, PNG, immutable=True)
    assert url == f"https://cdn.example.com/{key}"
    stored = moto_server.client("s3").get_object(Bucket=s3_bucket, Key=key)
    assert stored["Body"].read() == PNG


def test_s3_readiness_names_the_bucket_variable_when_unreachable(make_s3_app, client):
    app = make_s3_app(S3_BUCKET="no-such-bucket")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "S3_BUCKET is set but storage cannot be reached" in response.json["message"]


def test_local_server_sends_cache_headers_etag_and_answers_304(app, client):
    with app.app_context():
        key = content_key(PNG, "png")
        url = storage().put(key, PNG, immutable=True)
    assert url == f"http://localhost/files/{key}"
    path = urlsplit(url).path

    response = client.get(path)
    assert response.status_code == 200
    assert response.data == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Cache-Control"] == IMMUTABLE
    etag = response.headers["ETag"]
    assert etag

    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["Cache-Control"] == IMMUTABLE
    assert again.headers["ETag"] == etag


def test_an_immutable_file_is_read_only_without_a_twin_and_a_hand_copied_one_stays_private(
        app, client):
    """The local folder writes an immutable file with the headers its name implies as a
    read-only file and no JSON twin (a put costs a third of two files' writing); a file
    copied in by hand is writable, so it is served uncached, as before."""
    with app.app_context():
        store = storage()
        store.put("docs/7/report.png", b"draft", disposition="attachment")  # mutable: a twin
        store.path("docs/7/report.png").unlink()      # removed by hand, its twin left behind
        store.put("docs/7/report.png", PNG, immutable=True)
        store.path("docs/7/copied.png").write_bytes(PNG)
        written = store.path("docs/7/report.png")
        assert not written.stat().st_mode & 0o222
        assert not store._meta_path("docs/7/report.png").exists()   # the old twin is gone
        assert [p.name for p in written.parent.iterdir() if p.name.startswith(".")] == []
    served = client.get("/files/docs/7/report.png")
    assert served.data == PNG and served.headers["Cache-Control"] == IMMUTABLE
    assert "attachment" not in served.headers.get("Content-Disposition", "")   # not the twin's
    assert client.get("/files/docs/7/report.png", headers={
        "If-None-Match": served.headers["ETag"]}).status_code == 304
    assert client.get("/files/docs/7/copied.png").headers["Cache-Control"] == PRIVATE


def test_a_put_that_fails_while_writing_keeps_the_old_file_and_leaves_no_temporary_one(app):
    with app.app_context():
        store = storage()
        store.put("docs/8/data.bin", b"old")

        def broken():
            yield b"half of the new"
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            store._store("docs/8/data.bin", broken(), None, False, None)
        assert store.get("docs/8/data.bin") == b"old"
        assert sorted(p.name for p in store.path("docs/8/data.bin").parent.iterdir()) == [
            "data.bin"]


def test_local_server_keeps_content_type_and_private_files_uncached(app, client):
    with app.app_context():
        url = storage().put("exports/9/report.bin", b"a,b\n1,2\n", content_type="text/csv")
    path = urlsplit(url).path

    response = client.get(path)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Cache-Control"] == PRIVATE

    with app.app_context():
        storage().delete("exports/9/report.bin")
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/files/.meta/exports/x.json", "/files/a/../../secret_key",
                                  "/files/a/.hidden"])
def test_local_server_refuses_hidden_and_escaping_paths(client, path):
    assert client.get(path).status_code == 404


def test_content_keys_are_keyed_by_the_server_secret(make_app):
    """A plain hash would let anyone confirm a guessed file (a Wi-Fi password in a static
    code) by computing its key; the key depends on SECRET_KEY."""
    import hashlib

    first, second = make_app(SECRET_KEY="one secret"), make_app(SECRET_KEY="another secret")
    with first.app_context():
        key = content_key(PNG, "png")
        assert key == content_key(PNG, "png"), "same bytes, same key"
    with second.app_context():
        other = content_key(PNG, "png")
    assert key != other
    assert hashlib.sha256(PNG).hexdigest() not in key


def test_local_server_sandboxes_every_file_and_keeps_its_disposition(app, client):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    with app.app_context():
        url = storage().put("c/aa/logo.svg", svg, "image/svg+xml", immutable=True,
                            disposition='attachment; filename="logo.svg"')
    response = client.get(urlsplit(url).path)
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["Content-Disposition"] == 'attachment; filename="logo.svg"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_s3_keeps_the_disposition_and_takes_a_presigned_put(make_s3_app, moto_server,
                                                            s3_bucket):
    import requests

    app = make_s3_app()
    s3 = moto_server.client("s3")
    with app.app_context():
        store = storage()
        store.put("c/bb/menu.pdf", b"%PDF-1.7", "application/pdf", immutable=True,
                  disposition='inline; filename="menu.pdf"')
        upload = store.presigned_put("uploads/1/abc", "image/png", max_bytes=1000)
        assert store.size("uploads/1/abc") is None

    head = s3.head_object(Bucket=s3_bucket, Key="c/bb/menu.pdf")
    assert head["ContentDisposition"] == 'inline; filename="menu.pdf"'
    # A real HTTP PUT to the presigned URL, as a browser or the mobile app sends it.
    response = requests.put(upload.url, data=PNG, headers=upload.headers, timeout=10)
    assert response.status_code == 200, response.text
    with app.app_context():
        assert storage().size("uploads/1/abc") == len(PNG)
        assert storage().get("uploads/1/abc") == PNG
    assert s3.head_object(Bucket=s3_bucket, Key="uploads/1/abc")["CacheControl"] == PRIVATE


def test_local_presigned_put_checks_its_signature_type_and_size(app, client):
    with app.app_context():
        upload = storage().presigned_put("uploads/2/xyz", "image/png", max_bytes=len(PNG))
    path = urlsplit(upload.url).path
    assert client.put(path, data=PNG, headers={"Content-Type": "text/html"}).status_code == 400
    assert client.put(path, data=PNG + b"more", headers=upload.headers).status_code == 413
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.put(forged, data=PNG, headers=upload.headers).status_code == 403
    assert client.put(path, data=PNG, headers=upload.headers).status_code == 200
    with app.app_context():
        assert storage().get("uploads/2/xyz") == PNG
        assert storage().size("uploads/2/xyz") == len(PNG)


def test_local_presigned_put_takes_files_larger_than_the_default_body_cap(app, client):
    big = PNG * 40_000  # ~8 MB: far above QRP_MAX_BODY_BYTES; the signed URL allows it
    with app.app_context():
        upload = storage().presigned_put("uploads/3/big", "image/png", max_bytes=len(big))
    assert client.put(urlsplit(upload.url).path, data=big, headers=upload.headers
                      ).status_code == 200


def _check_local_copy(store):
    key = content_key(PNG, "png")
    store.put(key, PNG, immutable=True)
    with store.local_copy(key) as path:
        assert path.read_bytes() == PNG
    with pytest.raises(KeyError), store.local_copy("private/missing.png"):
        pass
    return path


def test_s3_local_copy_downloads_the_object_and_removes_it_afterwards(make_s3_app, moto_server,
                                                                      s3_bucket):
    with make_s3_app().app_context():
        path = _check_local_copy(storage())
    assert not path.exists(), "the download is gone after the with block"


def test_local_copy_of_the_embedded_folder_is_the_stored_file_itself(app):
    with app.app_context():
        path = _check_local_copy(storage())
        assert path.exists() and path == storage().path(content_key(PNG, "png"))


class PieceReader(io.BytesIO):
    """A file that remembers the largest piece it was asked for."""

    largest = 0

    def read(self, size=-1):
        self.largest = max(self.largest, size if size is not None and size >= 0 else 1 << 62)
        return super().read(size)


def _check_put_file(store) -> None:
    data = os.urandom(1024) * (20 * 1024)     # 20 MB: past one piece, and past S3's multipart
    source = PieceReader(data)
    store.put_file("private/bulk/7/codes.zip", source, content_type="application/zip",
                   disposition='attachment; filename="codes.zip"')
    assert store.get("private/bulk/7/codes.zip") == data
    assert 0 < source.largest <= 8 * 1024 * 1024, "read in pieces, never whole"


def test_s3_stores_a_large_file_from_a_file_in_pieces(make_s3_app, moto_server, s3_bucket):
    with make_s3_app().app_context():
        _check_put_file(storage())
    head = moto_server.client("s3").head_object(Bucket=s3_bucket, Key="private/bulk/7/codes.zip")
    assert (head["ContentType"], head["CacheControl"]) == ("application/zip", PRIVATE)
    assert head["ContentDisposition"] == 'attachment; filename="codes.zip"'


def test_the_embedded_folder_stores_a_large_file_in_pieces_and_streams_it_back(app):
    with app.app_context():
        _check_put_file(storage())
        meta = json.loads(storage()._meta_path("private/bulk/7/codes.zip").read_bytes())
        assert (meta["content_type"], meta["cache_control"]) == ("application/zip", PRIVATE)
        with app.test_request_context():
            response = send_private("private/bulk/7/codes.zip")
            assert response.direct_passthrough, "streamed from the file, not read whole"
            assert response.headers["Cache-Control"] == "private, no-store"
            assert "attachment" in response.headers["Content-Disposition"]
            response.close()


def _check_new_file(store) -> None:
    """Written (and sought in, as a ZIP is) piece by piece, stored when the block ends; a block
    that fails stores nothing, and keeps the file that was there."""
    with store.new_file("private/bulk/8/codes.zip", content_type="application/zip") as file:
        file.write(b"head" + b"x" * 1024)
        file.seek(0)
        file.write(b"HEAD")
        file.seek(0, os.SEEK_END)
        file.write(b"tail")
        assert not store.exists("private/bulk/8/codes.zip"), "not stored before the end"
    assert store.get("private/bulk/8/codes.zip") == b"HEAD" + b"x" * 1024 + b"tail"
    with pytest.raises(RuntimeError), store.new_file("private/bulk/8/codes.zip") as file:
        file.write(b"half a ZIP")
        raise RuntimeError("the job failed")
    assert store.get("private/bulk/8/codes.zip") == b"HEAD" + b"x" * 1024 + b"tail"
    with pytest.raises(RuntimeError), store.new_file("private/bulk/8/other.zip") as file:
        raise RuntimeError("the job failed")
    assert not store.exists("private/bulk/8/other.zip")


def test_s3_stores_a_new_file_when_it_is_written(make_s3_app, moto_server, s3_bucket):
    with make_s3_app().app_context():
        _check_new_file(storage())
    head = moto_server.client("s3").head_object(Bucket=s3_bucket, Key="private/bulk/8/codes.zip")
    assert (head["ContentType"], head["CacheControl"]) == ("application/zip", PRIVATE)


def test_the_embedded_folder_writes_a_new_file_where_it_stays(app):
    with app.app_context():
        _check_new_file(storage())
        meta = json.loads(storage()._meta_path("private/bulk/8/codes.zip").read_bytes())
        assert (meta["content_type"], meta["cache_control"]) == ("application/zip", PRIVATE)
        assert meta["etag"]
        leftovers = [p.name for p in storage().path("private/bulk/8").iterdir()
                     if p.name.startswith(".")]
        assert leftovers == [], "no temporary file left behind"
