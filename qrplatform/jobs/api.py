"""GET /api/v1/jobs/{id}: any plugin's background job, its progress and outcome."""

from marshmallow import Schema, fields

from qrplatform import permissions
from qrplatform.api import api_blueprint
from qrplatform.jobs import Job
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
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "why it failed"})
    attempts = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


def get_job(job_id: str) -> Job:
    """A job of the current workspace; another workspace's job (or a system job) is not found."""
    return get_or_404(Job, job_id, "No such job in this workspace.")


@blp.get("/<job_id>")
@blp.response(200, JobSchema)
def job_status(job_id):
    """State, progress, result or error of a background job."""
    permissions.require("jobs.view")
    return get_job(job_id)
