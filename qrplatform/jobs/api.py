"""GET /api/v1/jobs/{id}: any plugin's background job, its progress and outcome."""

from flask import url_for
from marshmallow import Schema, fields

from qrplatform import permissions
from qrplatform.api import api_blueprint
from qrplatform.errors import NotFound
from qrplatform.jobs import Job
from qrplatform.storage import send_private
from qrplatform.tenancy import get_or_404

blp = api_blueprint("jobs", __name__, "/api/v1/jobs", "Background jobs and their progress")


class JobSchema(Schema):
    id = fields.String()
    description = fields.String()
    state = fields.String(metadata={"description": "queued, started, retrying, finished, failed"})
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    percent = fields.Integer(allow_none=True)
    message = fields.String()
    result = fields.Method("_result", allow_none=True)
    files = fields.Method("_files", metadata={
        "description": "the files the job made, each downloadable with a token at its url"})
    error = fields.String(allow_none=True, metadata={"description": "why it failed"})
    attempts = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)

    def _result(self, job):
        if not isinstance(job.result, dict):
            return job.result
        return {k: v for k, v in job.result.items() if k != "files"}  # storage keys stay inside

    def _files(self, job) -> list[dict]:
        return [{"name": name, "url": url_for("jobs.job_file", job_id=job.id, name=name)}
                for name in job_files(job)]


def job_files(job: Job) -> dict[str, str]:
    """The private files a job made, by name (see jobs.produced_file)."""
    files = job.result.get("files") if isinstance(job.result, dict) else None
    return files if isinstance(files, dict) else {}


def send_job_file(job_id: str, name: str):
    """A file the workspace's job made, to a member who may see jobs."""
    permissions.require("jobs.view")
    key = job_files(get_job(job_id)).get(name)
    if key is None:
        raise NotFound(f"This job made no file named {name!r}.")
    return send_private(key)


def get_job(job_id: str) -> Job:
    """A job of the current workspace; another workspace's job (or a system job) is not found."""
    return get_or_404(Job, job_id, "No such job in this workspace.")


@blp.get("/<job_id>")
@blp.response(200, JobSchema)
def job_status(job_id):
    """State, progress, result or error of a background job."""
    permissions.require("jobs.view")
    return get_job(job_id)


@blp.get("/<job_id>/files/<name>")
@blp.response(200, content_type="application/octet-stream", description=(
    "the file (or, with S3 storage, a redirect to a link valid for five minutes)"))
@blp.alt_response(302, description="S3 storage: a presigned link to the file")
def job_file(job_id, name):
    """Download a file the job made (a bulk job's ZIP, an export's CSV): ``files`` in the
    job lists them."""
    return send_job_file(job_id, name)
