"""Object storage: one interface (put, get, delete, url) for every plugin.

- embedded: a folder under instance/ (QRP_STORAGE_DIR), served by the app at /files/<key>;
- production: any S3 API (Cloudflare R2, AWS S3, MinIO) through boto3, chosen by S3_BUCKET
  (with S3_ENDPOINT_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION).

Public URLs start with CDN_BASE_URL when it is set. Immutable files get content-addressed keys
(``content_key``) and are written with ``Cache-Control: public, max-age=31536000, immutable``;
other files with ``private, max-age=0, no-cache``. Both backends keep each file's Content-Type,
Cache-Control and Content-Disposition with it, so the local server sends the same headers S3
does, plus an ETag, and answers 304 to a matching If-None-Match. The local server also sends
``Content-Security-Policy: sandbox`` with every file, so an uploaded file opened as a page can
run nothing on our origin (behind a CDN, its rules add the same header: docs/deploy.md).

Anyone holding a URL can fetch the file: use content keys or random keys, never guessable ones,
for anything a tenant would not publish. Content keys are keyed hashes (HMAC with a secret
derived from SECRET_KEY): a plain hash would let anyone who guesses a file's content (a Wi-Fi
password in a static code) compute its key and confirm the guess.

Private files (a job's ZIP, an uploaded CSV, an export) live under ``private/``: they have no
public URL, the file server and the CDN prefix never hand them out, and ``send_private`` serves
them from an authenticated route (a short-lived presigned URL on S3, the bytes from the folder).

A browser or app can upload straight to the backend: ``presigned_put`` gives a short-lived URL
to PUT one object to (S3's presigned URL; the local folder's signed ``/files/uploads/`` URL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import os
import stat
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

from flask import Blueprint, Flask, abort, current_app, redirect, request, send_file
from itsdangerous import BadSignature, URLSafeTimedSerializer

from qrplatform import hosts
from qrplatform.inputs import max_body

IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE_PREFIX = "private/"
# Seconds a presigned download of a private file stays valid.
PRIVATE_URL_SECONDS = 300
COPY_PIECE = 1024 * 1024   # bytes read at a time when a file is stored from a file
PRIVATE = "private, max-age=0, no-cache"
# The most the local presigned-upload route reads; each signed URL carries its own, smaller cap.
MAX_PRESIGNED_BYTES = 1024 * 1024 * 1024
# Sent with every stored file: opened as a page, an uploaded file runs nothing on our origin.
SANDBOX = "sandbox"


class StorageError(RuntimeError):
    pass


@dataclass(frozen=True)
class PresignedUpload:
    """Where and how to PUT one object: send ``headers`` with the request, before
    ``expires_at``."""

    url: str
    expires_at: datetime
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


class Storage(Protocol):
    """What every backend offers; plugins get theirs from ``storage()``."""

    name: str
    # A put waits on the network: worth overlapping with others (in threads). A local write
    # is cheaper done at once: handing it to a thread cost three times its CPU.
    remote: bool

    def put(self, key: str, data: bytes, content_type: str | None = None,
            immutable: bool = False, disposition: str | None = None) -> str:
        """Store ``data`` under ``key`` and return its public URL. ``disposition`` is the
        Content-Disposition the file is served with (``attachment; filename=...`` keeps a
        browser from showing it as a page)."""

    def put_file(self, key: str, source: BinaryIO, content_type: str | None = None,
                 disposition: str | None = None) -> str:
        """``put`` from a file read in pieces, never whole: what a job writes that may be
        large (a ZIP of ten thousand codes is over a gigabyte)."""

    def new_file(self, key: str, content_type: str | None = None,
                 disposition: str | None = None) -> AbstractContextManager[BinaryIO]:
        """A file to write (and seek in) that is stored under ``key`` when the ``with`` block
        ends, and not at all when it ends with an exception: what a job builds piece by piece.
        A local folder's is written where it stays (copying a ZIP of ten thousand codes into
        place took 3 s)."""

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; KeyError when there are none."""

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A file on this machine holding the object under ``key``, for readers that stream
        from a file (a decoder that never holds a 50-megapixel picture whole); removed after
        the ``with`` block when it is a download. KeyError when there is none."""

    def size(self, key: str) -> int | None:
        """The size of the object under ``key`` without reading it; None when there is none."""

    def presigned_put(self, key: str, content_type: str, max_bytes: int,
                      expires_in: int = 3600) -> PresignedUpload:
        """A URL a client can PUT ``key`` to (Content-Type ``content_type``) without our
        credentials. The object is private; check it (``size``, then ``get``) before use."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    def url(self, key: str) -> str: ...

    def check(self) -> None:
        """Raise when the backend cannot be used (for /readyz)."""


def content_digest(data: bytes) -> str:
    """A keyed hash of ``data`` (HMAC-SHA256 under a secret derived from SECRET_KEY): equal
    bytes give equal digests, and nobody without the secret can compute one."""
    secret = hmac.new(current_app.config["SECRET_KEY"].encode(), b"qrplatform content keys",
                      hashlib.sha256).digest()
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def content_key(data: bytes, extension: str, prefix: str = "c", namespace: str = "") -> str:
    """A key derived from the bytes: the same content always lands on the same key, so the
    file can be cached forever (put it with ``immutable=True``). Keyed (``content_digest``):
    a key says nothing about the content and cannot be computed from outside. A
    ``namespace`` (a workspace) gets keys of its own for the same bytes, so one tenant's
    upload never shares, or reveals, another's object."""
    digest = content_digest(f"{namespace}\0".encode() + data if namespace else data)
    return f"{prefix}/{digest[:2]}/{digest}.{extension.lstrip('.')}"


def check_key(key: str) -> str:
    """Keys are relative paths of visible names: no '..', no hidden parts, no backslashes."""
    parts = key.split("/") if key else []
    if not parts or "\\" in key or any(not part or part.startswith(".") for part in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def guess_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def is_private(key: str) -> bool:
    return key.startswith(PRIVATE_PREFIX)


def _public_url(base_url: str, key: str) -> str:
    """The file's public URL; a private file has none ("" from put)."""
    if is_private(key):
        return ""
    return f"{base_url}/{quote(check_key(key))}"


class LocalStorage:
    """Files in a folder; each file's headers in a JSON twin under ``.meta/`` (never served).

    An immutable file served with the type its name implies and no Content-Disposition (a
    code's PNG, SVG or PDF) has no twin: it is written read-only, which says immutable, and
    its ETag comes from the file itself. Writing a file is most of a put's cost, and a bulk
    run writes three a code."""

    name = "local folder"
    remote = False

    def __init__(self, root: str, base_url: str | None):
        self.root = Path(root)
        # None: the app's own /files under the address the request reached (hosts).
        self.base_url = base_url.rstrip("/") if base_url else None

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / (check_key(key) + ".json")

    def put(self, key: str, data: bytes, content_type: str | None = None,
            immutable: bool = False, disposition: str | None = None) -> str:
        if immutable and self.path(key).exists():
            return self.url(key)  # same key, same bytes
        return self._store(key, [data], content_type, immutable, disposition)

    def put_file(self, key: str, source: BinaryIO, content_type: str | None = None,
                 disposition: str | None = None) -> str:
        return self._store(key, iter(lambda: source.read(COPY_PIECE), b""), content_type,
                           False, disposition)

    @contextmanager
    def new_file(self, key: str, content_type: str | None = None,
                 disposition: str | None = None) -> Iterator[BinaryIO]:
        with _atomic_file(self.path(key)) as target:
            yield target
            # Not read back to hash it: the ETag names this write (a new file, a new tag).
            self._write_meta(key, content_type or guess_type(key), False, uuid.uuid4().hex,
                             disposition)

    def _write_meta(self, key: str, content_type: str, immutable: bool, etag: str,
                    disposition: str | None) -> None:
        meta = {"content_type": content_type, "cache_control": IMMUTABLE if immutable else PRIVATE,
                "etag": etag, "disposition": disposition}
        _write_atomically(self._meta_path(key), json.dumps(meta).encode())

    def _store(self, key: str, pieces: Iterable[bytes], content_type: str | None,
               immutable: bool, disposition: str | None) -> str:
        """The file written whole before it replaces the old one, then its headers."""
        path = self.path(key)
        implied_type = guess_type(key)
        content_type = content_type or implied_type
        if immutable and content_type == implied_type and not disposition:
            with _atomic_file(path, read_only=True) as target:
                target.writelines(pieces)
                self._meta_path(key).unlink(missing_ok=True)   # an earlier version's headers
            return self.url(key)
        digest = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for piece in pieces:
                digest.update(piece)
                yield piece

        with _atomic_file(path) as target:
            target.writelines(hashed())
            self._write_meta(key, content_type, immutable, digest.hexdigest()[:32], disposition)
        return self.url(key)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise KeyError(key)
        yield path

    def headers(self, key: str) -> dict:
        """Content type, cache control and ETag recorded when the file was put (ETag None: the
        file server makes one from the file)."""
        try:
            return json.loads(self._meta_path(key).read_text())
        except FileNotFoundError:  # an immutable file (read-only), or one copied in by hand
            read_only = not self.path(key).stat().st_mode & stat.S_IWUSR
            return {"content_type": guess_type(key), "etag": None,
                    "cache_control": IMMUTABLE if read_only else PRIVATE}

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def presigned_put(self, key: str, content_type: str, max_bytes: int,
                      expires_in: int = 3600) -> PresignedUpload:
        token = _upload_signer().dumps({"key": check_key(key), "type": content_type,
                                        "max": max_bytes, "ttl": expires_in})
        return PresignedUpload(
            # The app's own route, not the CDN (which serves files but takes no uploads).
            url=f"{hosts.public_base_url()}/files/uploads/{token}",
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            headers={"Content-Type": content_type})

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return _public_url(self.base_url or f"{hosts.public_base_url()}/files", key)

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"storage folder {self.root} is not writable")


@contextmanager
def _atomic_file(path: Path, read_only: bool = False) -> Iterator[BinaryIO]:
    """Readers never see half a file: a hidden temporary file, renamed over ``path`` when the
    ``with`` block ends (and removed if it fails). The folder is made when it is missing."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    flags, mode = os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444 if read_only else 0o666
    try:
        descriptor = os.open(tmp, flags, mode)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(tmp, flags, mode)
    try:
        with open(descriptor, "wb") as target:
            yield target
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_atomically(path: Path, data: bytes) -> None:
    with _atomic_file(path) as target:
        target.write(data)


class S3Storage:
    """Any S3 API through boto3; path-style addressing, which R2 and MinIO need."""

    name = "S3"
    remote = True

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
            immutable: bool = False, disposition: str | None = None) -> str:
        if immutable and self.exists(key):
            return self.url(key)  # same key, same bytes: skip the upload
        extra = {"ContentDisposition": disposition} if disposition else {}
        self.client.put_object(
            Bucket=self.bucket,
            Key=check_key(key),
            Body=data,
            ContentType=content_type or guess_type(key),
            CacheControl=IMMUTABLE if immutable else PRIVATE,
            **extra,
        )
        return self.url(key)

    def put_file(self, key: str, source: BinaryIO, content_type: str | None = None,
                 disposition: str | None = None) -> str:
        extra = {"ContentDisposition": disposition} if disposition else {}
        # boto3's managed transfer: a multipart upload in pieces for a large file.
        self.client.upload_fileobj(source, self.bucket, check_key(key), ExtraArgs={
            "ContentType": content_type or guess_type(key), "CacheControl": PRIVATE, **extra})
        return self.url(key)

    @contextmanager
    def new_file(self, key: str, content_type: str | None = None,
                 disposition: str | None = None) -> Iterator[BinaryIO]:
        with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
            yield buffer
            buffer.seek(0)
            self.put_file(key, buffer, content_type, disposition)

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def presigned_put(self, key: str, content_type: str, max_bytes: int,
                      expires_in: int = 3600) -> PresignedUpload:
        # A presigned PUT cannot cap the size: whoever confirms the upload checks size() first.
        url = self.client.generate_presigned_url(
            "put_object", ExpiresIn=expires_in, HttpMethod="PUT",
            Params={"Bucket": self.bucket, "Key": check_key(key), "ContentType": content_type,
                    "CacheControl": PRIVATE})
        return PresignedUpload(url=url,
                               expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
                               headers={"Content-Type": content_type, "Cache-Control": PRIVATE})

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=check_key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise KeyError(key) from exc

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        if not self.exists(key):
            raise KeyError(key)
        with tempfile.TemporaryDirectory(prefix="qrp-") as folder:
            path = Path(folder) / Path(key).name
            self.client.download_file(self.bucket, check_key(key), str(path))  # streamed
            yield path

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def url(self, key: str) -> str:
        return _public_url(self.base_url, key)

    def presigned_get(self, key: str, filename: str) -> str:
        return self.client.generate_presigned_url(
            "get_object", ExpiresIn=PRIVATE_URL_SECONDS,
            Params={"Bucket": self.bucket, "Key": check_key(key),
                    "ResponseContentDisposition": _attachment(filename),
                    "ResponseCacheControl": "private, no-store"})

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def storage() -> Storage:
    return current_app.extensions["qrp.storage"]


def _attachment(filename: str) -> str:
    return f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"


GONE_FROM_STORAGE = "The file is no longer stored; make it again (run the export or job anew)."


def send_private(key: str, filename: str | None = None):
    """A private file for the caller an authenticated route has let in: a redirect to a
    short-lived presigned URL on S3, the bytes themselves from the local folder."""
    backend = storage()
    filename = filename or key.rsplit("/", 1)[-1]
    if isinstance(backend, S3Storage):
        if not backend.exists(key):
            abort(404, GONE_FROM_STORAGE)
        response = redirect(backend.presigned_get(key, filename))
    else:
        path = backend.path(key)
        if not path.is_file():
            abort(404, GONE_FROM_STORAGE)
        # Streamed from the file: a large ZIP is never read whole into a web worker.
        response = send_file(path, mimetype=guess_type(key), max_age=0)
        response.headers["Content-Disposition"] = _attachment(filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response


files = Blueprint("files", __name__)


@files.get("/files/<path:key>")
def serve_file(key: str):
    """The embedded storage's file server (in production the CDN or S3 serves files)."""
    backend = storage()
    if not isinstance(backend, LocalStorage) or is_private(key):
        abort(404)
    try:
        path = backend.path(key)
    except StorageError:
        abort(404)
    if not path.is_file():
        abort(404)
    headers = backend.headers(key)
    # conditional=True: Werkzeug answers 304 to a matching If-None-Match / If-Modified-Since.
    response = send_file(path, mimetype=headers["content_type"], conditional=True,
                         etag=headers["etag"] or True, max_age=None)
    response.headers["Cache-Control"] = headers["cache_control"]
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = SANDBOX
    if headers.get("disposition"):
        response.headers["Content-Disposition"] = headers["disposition"]
    return response


def _upload_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="qrp.storage.upload")


@files.put("/files/uploads/<token>")
@max_body(MAX_PRESIGNED_BYTES)
def presigned_upload(token: str):
    """The local folder's answer to an S3 presigned PUT: the signed token names the key, the
    Content-Type and the largest size allowed, and expires like S3's URL would."""
    backend = storage()
    if not isinstance(backend, LocalStorage):
        abort(404)
    signer = _upload_signer()
    try:
        ticket = signer.loads(token, max_age=signer.loads(token)["ttl"])
    except BadSignature:
        abort(403, "This upload URL is invalid or has expired; ask for a new one.")
    if request.mimetype != ticket["type"]:
        abort(400, f"Send the Content-Type this URL was made for ({ticket['type']}).")
    if request.content_length is None:
        abort(411, "Send a Content-Length.")
    if request.content_length > ticket["max"]:
        abort(413, f"This upload URL takes at most {ticket['max']:,} bytes.")
    data = request.stream.read(ticket["max"] + 1)
    if len(data) > ticket["max"]:
        abort(413, f"This upload URL takes at most {ticket['max']:,} bytes.")
    backend.put(ticket["key"], data, content_type=ticket["type"])
    return "", 200


# The settings that choose and reach the backend: ``make_backend`` needs these and no app.
BACKEND_SETTINGS = ("S3_BUCKET", "S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY",
                    "S3_REGION", "CDN_BASE_URL", "PUBLIC_BASE_URL", "QRP_STORAGE_DIR")


def backend_settings(app: Flask) -> dict:
    """What another process (a job's drawing pool) needs to open the same backend."""
    return {name: app.config.get(name) for name in BACKEND_SETTINGS}


def make_backend(config) -> Storage:
    if config.get("S3_BUCKET"):
        return S3Storage(config)
    if config.get("CDN_BASE_URL"):
        base = config["CDN_BASE_URL"]
    elif config.get("PUBLIC_BASE_URL_FROM_REQUEST"):
        base = None  # built when asked, from the request (qrplatform.hosts)
    else:
        base = config["PUBLIC_BASE_URL"] + "/files"
    return LocalStorage(config["QRP_STORAGE_DIR"], base)


def init_app(app: Flask) -> None:
    app.extensions["qrp.storage"] = make_backend(app.config)
    app.register_blueprint(files)
    from qrplatform.extensions import csrf

    # The signed token is the credential (like S3's presigned URL); no cookie is involved.
    csrf.exempt(presigned_upload)
