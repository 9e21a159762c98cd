"""/api/v1/domains: custom domains for a workspace's short links (in the OpenAPI document)."""

from __future__ import annotations

from flask import url_for

from qrp_domains import names, services
from qrp_domains.schemas import (
    DomainCheckSchema,
    DomainCreateSchema,
    DomainDeleteArgs,
    DomainJobSchema,
    DomainSchema,
    DomainUpdateSchema,
    DomainUsageSchema,
)
from qrplatform import csvfiles, permissions
from qrplatform.api import api_blueprint
from qrplatform.permissions import permission_required

blp = api_blueprint("domains_api", __name__, "/api/v1/domains",
                    "Custom domains: add, verify by DNS, route short links, remove safely")


def domain_view(domain, read_only: set[int] | None = None) -> dict:
    """The API resource of a domain."""
    read_only = services.read_only_ids() if read_only is None else read_only
    return {
        "id": domain.id, "name": domain.name, "display_name": names.display(domain.name),
        "status": domain.status, "verification": services.verification(domain),
        "http_verification": services.http_verification(domain), "owned": domain.owned,
        "problems": [f["message"] for f in domain.findings if not f["ok"]],
        "findings": domain.findings, "root_url": domain.root_url,
        "not_found_url": domain.not_found_url, "read_only": domain.id in read_only,
        "read_only_reason": services.read_only_reason(domain) if domain.id in read_only
        else None,
        "verified_at": domain.verified_at, "last_checked_at": domain.last_checked_at,
        "next_check_at": domain.next_check_at, "created_at": domain.created_at,
    }


def _job_accepted(job) -> dict:
    return {"job_id": job.id, "job_url": url_for("jobs.job_status", job_id=job.id)}


@blp.get("")
@blp.response(200, DomainSchema(many=True))
def list_domains():
    """The workspace's domains, oldest first."""
    permissions.require("domains.view")
    read_only = services.read_only_ids()
    return [domain_view(d, read_only) for d in services.list_domains()]


@blp.post("")
@permission_required("domains.manage")
@blp.arguments(DomainCreateSchema)
@blp.response(201, DomainSchema)
def add_domain(data):
    """Add a domain (``pending``); ``verification`` lists the DNS records to create. The plan
    limits how many domains a workspace has (402 when full)."""
    return domain_view(services.add_domain(data["name"]))


@blp.get("/<int:domain_id>")
@blp.response(200, DomainSchema)
def get_domain(domain_id):
    """One domain, with what its last check found."""
    permissions.require("domains.view")
    return domain_view(services.get_domain(domain_id))


@blp.patch("/<int:domain_id>")
@permission_required("domains.manage")
@blp.arguments(DomainUpdateSchema)
@blp.response(200, DomainSchema)
def update_domain(data, domain_id):
    """Where ``/`` and unknown paths of the domain send visitors (empty: built-in pages)."""
    return domain_view(services.update_domain(domain_id, data))


@blp.post("/<int:domain_id>/verify")
@blp.response(200, DomainSchema)
def verify_domain(domain_id):
    """Check the domain's DNS records (or token file) now; the answer says what is missing
    or wrong."""
    permissions.require("domains.manage")
    return domain_view(services.verify_now(domain_id))


@blp.delete("/<int:domain_id>")
@permission_required("domains.manage")
@blp.arguments(DomainDeleteArgs, location="query")
@blp.response(204)
@blp.alt_response(202, schema=DomainJobSchema, description=(
    "removed with force while codes used it: their short links are being moved to the "
    "platform's domain (follow job_url)"))
def remove_domain(args, domain_id):
    """Remove a domain. While QR codes use it this answers 409 saying how many and how many
    scans they had in 30 days: move them first (``/move-codes``), keep the redirect map
    (``/redirect-map``), or send ``force=true``."""
    job = services.remove_domain(domain_id, force=args["force"])
    if job is not None:
        return _job_accepted(job), 202
    return None


@blp.get("/<int:domain_id>/checks")
@blp.response(200, DomainCheckSchema(many=True))
def list_checks(domain_id):
    """What the last checks saw (newest first): when, why, what was found, the status."""
    permissions.require("domains.view")
    return services.recent_checks(services.get_domain(domain_id).id)


@blp.get("/<int:domain_id>/usage")
@blp.response(200, DomainUsageSchema)
def domain_usage(domain_id):
    """How many QR codes use the domain and how many scans they had in the last 30 days."""
    permissions.require("domains.view")
    domain = services.get_domain(domain_id)
    reason = services.read_only_reason(domain)
    return {**services.usage(domain), "read_only": reason is not None,
            "read_only_reason": reason}


@blp.post("/<int:domain_id>/move-codes")
@blp.response(202, DomainJobSchema)
def move_codes(domain_id):
    """Move every code on the domain to the platform's short links (a job; their images are
    redrawn). Printed codes keep working only while the domain still points at us."""
    permissions.require("domains.manage")
    return _job_accepted(services.start_move(domain_id))


@blp.get("/<int:domain_id>/redirect-map")
@blp.response(200, {"type": "string"}, content_type="text/csv", description=(
    "CSV: short_url, destination"))
def redirect_map(domain_id):
    """The domain's redirect map as CSV (short URL, destination), to keep serving its printed
    codes elsewhere."""
    permissions.require("domains.view")
    domain = services.get_domain(domain_id)
    return csvfiles.download(services.redirect_map(domain), f"{domain.name}-redirects.csv", {
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
