"""Object storage: one interface (put, get, delete, url) for every plugin.

- embedded: a folder under instance/ (QRP_STORAGE_DIR), served by the app at /files/<key>;
- production: any S3 API (Cloudflare R2, AWS S3, MinIO) through boto3, chosen by S3_BUCKET.

Public URLs start with CDN_BASE_URL when it is set. Immutable files get content-addressed keys
(``content_key``) and ``Cache-Control: public, max-age=31536000, immutable``; the local server
sends the same headers plus an ETag and answers 304 to a matching If-None-Match.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, request, send_file

IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, max-age=0, no-cache"


class StorageError(RuntimeError):
    pass


def content_key(data: bytes, extension: str, prefix: str = "c") -> str:
    """A key derived from the bytes: the same content always lands on the same key."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{prefix}/{digest[:2]}/{digest}.{extension.lstrip('.')}"


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise StorageError(f"invalid storage key {key!r}")
    return key


def guess_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


class LocalStorage:
    name = "local folder"

    def __init__(self, root: str, base_url: str):
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes, content_type: str | None = None,
            immutable: bool = False) -> str:
        path = self._path(key)
        if immutable and path.exists():
            return self.url(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return self.url(key)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return f"{self.base_url}/{_check_key(key)}"

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"storage folder {self.root} is not writable")


class S3Storage:
    name = "S3"

    def __init__(self, config):
        import boto3
        from botocore.config import Config

        self.bucket = config["S3_BUCKET"]
        self.client = boto3.client(
            "s3",
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            aws_access_key_id=config.get("S3_ACCESS_KEY_ID"),
            aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
            region_name=config.get("S3_REGION") or "us-east-1",
            config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3},
                          s3={"addressing_style": "path"}),
        )
        endpoint = (config.get("S3_ENDPOINT_URL") or "https://s3.amazonaws.com").rstrip("/")
        self.base_url = (config.get("CDN_BASE_URL") or f"{endpoint}/{self.bucket}").rstrip("/")

    def put(self, key: str, data: bytes, content_type: str | None = None,
            immutable: bool = False) -> str:
        if immutable and self.exists(key):
            return self.url(key)
        self.client.put_object(
            Bucket=self.bucket,
            Key=_check_key(key),
            Body=data,
            ContentType=content_type or guess_type(key),
            CacheControl=IMMUTABLE if immutable else PRIVATE,
        )
        return self.url(key)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=_check_key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise KeyError(key) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=_check_key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=_check_key(key))

    def url(self, key: str) -> str:
        return f"{self.base_url}/{_check_key(key)}"

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def storage():
    return current_app.extensions["qrp.storage"]


files = Blueprint("files", __name__)


@files.get("/files/<path:key>")
def serve_file(key: str):
    """The embedded storage's file server (in production the CDN or S3 serves files)."""
    backend = storage()
    if not isinstance(backend, LocalStorage):
        abort(404)
    try:
        path = backend._path(key)
    except StorageError:
        abort(404)
    if not path.is_file():
        abort(404)
    etag = path.name.split(".")[0] if key.startswith("c/") else None
    response = send_file(path, mimetype=guess_type(key), etag=etag or True, conditional=True,
                         max_age=None)
    response.headers["Cache-Control"] = IMMUTABLE if key.startswith("c/") else PRIVATE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    if app.config.get("S3_BUCKET"):
        backend = S3Storage(app.config)
    else:
        base = (app.config.get("CDN_BASE_URL") or app.config["PUBLIC_BASE_URL"] + "/files")
        backend = LocalStorage(app.config["QRP_STORAGE_DIR"], base)
    app.extensions["qrp.storage"] = backend
    app.register_blueprint(files)
