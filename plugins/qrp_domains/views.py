"""The domains pages (HTMX): the list with the add form, a domain's page (its records with
copy buttons, what the last check found in plain words, check now, settings), and removing it
safely (usage, redirect map, moving its codes with progress)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import login_required

from qrp_domains import names, services
from qrp_domains.forms import AddDomainForm, RemoveForm, SettingsForm
from qrplatform import csvfiles, permissions, quotas
from qrplatform.jobs.api import get_job
from qrplatform.web import act, render, submit

bp = Blueprint("domains", __name__, url_prefix="/domains", template_folder="templates",
               static_folder="static", static_url_path="/static")


def _page_context(domain) -> dict:
    reason = services.read_only_reason(domain)
    return {"domain": domain, "label": names.label(domain.name), "read_only": reason,
            "records": services.verification(domain),
            "http": services.http_verification(domain),
            "checks": services.recent_checks(domain.id),
            "unreachable": services.unreachable_address()}


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    permissions.require("domains.view")
    form = AddDomainForm()
    if request.method == "POST":
        permissions.require("domains.manage")
        if done := submit(form, lambda: services.add_domain(form.name.data),
                          success=lambda d: f"{d.name} added: create the DNS records below.",
                          then=lambda d: url_for(".detail", domain_id=d.id)):
            return done
    domains = services.list_domains()
    return render("domains/index.html", form=form, domains=domains,
                  read_only=services.read_only_ids(), label=names.label,
                  limit=quotas.limit(services.QUOTA), target=services.cname_target(),
                  addresses=services.our_addresses(),
                  unreachable=services.unreachable_address(),
                  status=422 if form.errors or form.form_errors else 200)


@bp.route("/<int:domain_id>", methods=["GET", "POST"])
@login_required
def detail(domain_id: int):
    permissions.require("domains.view")
    domain = services.get_domain(domain_id)
    form = SettingsForm(obj=None if request.method == "POST" else domain)
    if request.method == "POST":
        permissions.require("domains.manage")
        if done := submit(form, lambda: services.update_domain(domain.id, {
                "root_url": form.root_url.data, "not_found_url": form.not_found_url.data}),
                success="Saved.", then=url_for(".detail", domain_id=domain.id)):
            return done
    return render("domains/detail.html", "domains/_status.html", form=form,
                  status=422 if form.errors or form.form_errors else 200,
                  **_page_context(domain))


@bp.post("/<int:domain_id>/verify")
@login_required
def verify(domain_id: int):
    """Check now; an htmx request gets the status panel back in place."""
    permissions.require("domains.manage")
    domain = services.verify_now(domain_id)
    if request.headers.get("HX-Request") == "true":
        return render("domains/detail.html", "domains/_status.html", form=SettingsForm(
            obj=domain), **_page_context(domain))
    flash({"verified": f"{domain.name} is verified.",
           "misconfigured": f"{domain.name} no longer points at us: see what is wrong below.",
           }.get(domain.status, "Checked: see what is still missing below."),
          "success" if domain.status == "verified" else "info")
    return redirect(url_for(".detail", domain_id=domain.id))


@bp.route("/<int:domain_id>/remove", methods=["GET", "POST"])
@login_required
def remove(domain_id: int):
    permissions.require("domains.view")
    domain = services.get_domain(domain_id)
    usage = services.usage(domain)
    form = RemoveForm()
    if request.method == "POST":
        permissions.require("domains.manage")
        if usage["codes"] and not form.confirm.data:
            form.confirm.errors = ["Tick this to remove a domain that codes still use."]
        elif done := submit(form, lambda: services.remove_domain(domain.id, force=True),
                            success=f"{domain.name} removed.", then=url_for(".index")):
            return done
    job_id = request.args.get("job", "")
    job = get_job(job_id) if job_id and len(job_id) <= 36 else None
    return render("domains/remove.html", domain=domain, label=names.label(domain.name),
                  usage=usage, form=form, job=job, read_only=services.read_only_reason(domain),
                  status=422 if form.errors else 200)


@bp.post("/<int:domain_id>/move")
@login_required
def move(domain_id: int):
    permissions.require("domains.manage")
    return act(lambda: services.start_move(domain_id), success=None,
               then=lambda job: url_for(".remove", domain_id=domain_id,
                                        job=job.id if job else None))


@bp.get("/<int:domain_id>/redirect-map.csv")
@login_required
def redirect_map(domain_id: int):
    permissions.require("domains.view")
    domain = services.get_domain(domain_id)
    return csvfiles.download(services.redirect_map(domain), f"{domain.name}-redirects.csv",
                             {"Cache-Control": "private, no-store"})
