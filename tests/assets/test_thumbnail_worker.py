"""The thumbnail job as production runs it: queued on Redis, worked by a forking RQ worker
(`flask jobs worker`, in a process of its own: libvips, like most threaded libraries, must not
be used in a child forked from a process that already used it, and this test process has), the
file read back from S3 (moto's server) and the thumbnails written there."""

import io
import os
import subprocess
import sys

from PIL import Image

from qrplatform.auth import services as accounts
from qrplatform.testing.pytest_plugin import ApiClient
from tests.assets import files
from tests.assets.conftest import upload
from tests.test_jobs import PROJECT_ROOT


def test_an_rq_worker_makes_the_thumbnails_from_the_s3_copy(make_s3_app, s3_config, moto_server,
                                                            s3_bucket, redis, redis_url,
                                                            database_url, db, create_user):
    app = make_s3_app(REDIS_URL=redis_url, QRP_JOBS_INLINE=False)
    user = create_user()
    with app.app_context():
        _token, plain = accounts.create_token(user, user.personal_workspace_id, "tests")
    owner = ApiClient(app.test_client(), plain, user.id, user.personal_workspace_id)

    body = upload(owner, files.png(1200, 800), "poster.png").json
    assert owner.get(f"/api/v1/jobs/{body['thumbnail_job_id']}").json["state"] == "queued"
    assert owner.get(f"/api/v1/assets/{body['id']}").json["thumbnails"] == {}

    env = {**os.environ, **s3_config, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SECRET_KEY": app.config["SECRET_KEY"],
           "QRP_PLUGINS": ",".join(app.config["QRP_PLUGINS"])}
    worker = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker", "--burst"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-3000:]

    assert owner.get(f"/api/v1/jobs/{body['thumbnail_job_id']}").json["state"] == "finished"
    thumbs = owner.get(f"/api/v1/assets/{body['id']}").json["thumbnails"]
    assert sorted(thumbs, key=int) == ["128", "256", "512", "1024"]
    s3 = moto_server.client("s3")
    key = thumbs["512"].split(f"/{s3_bucket}/", 1)[1]
    webp = s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    width, height = Image.open(io.BytesIO(webp)).size
    assert width == 512 and abs(height - 512 * 800 / 1200) < 1
