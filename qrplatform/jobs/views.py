"""The one HTMX progress partial every plugin's pages use for a running job."""

from flask import Blueprint
from flask_login import login_required

from qrplatform import permissions
from qrplatform.jobs.api import get_job, send_job_file
from qrplatform.web import render

bp = Blueprint("job_pages", __name__)


@bp.get("/jobs/<job_id>")
@login_required
def job_progress(job_id: str):
    """Polls itself every second while the job runs (hx-trigger), then stops."""
    permissions.require("jobs.view")
    return render("jobs/job.html", "jobs/_progress.html", job=get_job(job_id))


@bp.get("/jobs/<job_id>/files/<name>")
@login_required
def job_file(job_id: str, name: str):
    """The browser's download link for a file a job made."""
    return send_job_file(job_id, name)
