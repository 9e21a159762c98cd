"""The domains plugin's rules, shared by the pages, the API, the scheduled checks and the
routing: adding a domain, proving it (DNS or a token file), its lifecycle, what it does at
``/`` and for unknown paths, the plan's quota, and taking it away without breaking printed codes.

Lifecycle: ``pending`` → ``verified`` once it is shown to be the workspace's and to point at
us → ``misconfigured`` when a later check finds it no longer points at us (its owners are
e-mailed) ↔ ``verified`` again → removed (the row is deleted). A scheduled job re-checks every
domain: pending and misconfigured ones with a growing backoff, verified ones daily.

Over the quota (after a downgrade) the newest domains are read-only: they keep serving their
codes, but take no new codes and no setting changes, and their pages say so.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, g, has_request_context
from sqlalchemy import func, select

from qrp_domains import checks, hostmap, names
from qrp_domains.models import MISCONFIGURED, PENDING, SERVING, VERIFIED, Domain, DomainCheck
from qrp_qr import services as qr
from qrplatform import csvfiles, events, hosts, jobs, netguard, notify, quotas
from qrplatform.auth import services as auth
from qrplatform.errors import Conflict, ServiceError
from qrplatform.extensions import db
from qrplatform.registry import registry
from qrplatform.tenancy import current_workspace_id, get_or_404, tenant_scope, unscoped
from qrplatform.web import public_url

log = logging.getLogger(__name__)

QUOTA = "domains.custom_domains"
QUOTA_NOUN = "custom domains"
# How often a domain is looked at again: verified ones daily; the others back off from a
# minute, doubling with each check that found them not right yet, up to six hours.
VERIFIED_INTERVAL = timedelta(days=1)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
CHECKS_KEPT = 20            # per domain, newest first
DUE_PER_RUN = 200           # domains one scheduled run looks at
SCAN_WINDOW_DAYS = 30       # "scans in the last 30 days" on the removal page
MOVE_BATCH = 50
MAX_URL = 2000


def now() -> datetime:
    return datetime.now(UTC)


class InvalidUrl(ServiceError):
    status = 422
    code = "validation_error"


# -- settings -----------------------------------------------------------------------------------

def _platform_host() -> str:
    """The host domains are pointed at: DOMAINS_CNAME_TARGET, else PUBLIC_BASE_URL's."""
    config = current_app.config
    return hosts.normalise_host(config.get("DOMAINS_CNAME_TARGET")
                                or urlsplit(config["PUBLIC_BASE_URL"]).hostname or "")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def cname_target() -> str | None:
    """Where a subdomain's CNAME must point; None when the platform is reached by an IP
    address (PUBLIC_BASE_URL http://203.0.113.7), at which no CNAME can point: subdomains
    then point at it with an A or AAAA record, as root domains do."""
    host = _platform_host()
    return host if host and not _is_address(host) else None


def our_addresses() -> list[str]:
    """The addresses A/AAAA records must hold: DOMAINS_ADDRESSES, else the platform's own
    when it is reached by an IP address."""
    configured = [a.strip().lower() for a in (current_app.config.get("DOMAINS_ADDRESSES") or "")
                  .split(",") if a.strip()]
    if configured:
        return configured
    host = _platform_host()
    return [host.strip("[]")] if _is_address(host) else []


def unreachable_address() -> str | None:
    """An address domains are to point at that the internet cannot reach (loopback, a private
    or a reserved network: a platform tried out on one machine), for the pages to say so."""
    return next((a for a in our_addresses() if not ipaddress.ip_address(a).is_global), None)


def reserved_hosts() -> set[str]:
    extra = current_app.config.get("DOMAINS_RESERVED") or ""
    return {*hosts.platform_hosts(current_app), cname_target(),
            *(hosts.normalise_host(h) for h in extra.split(",") if h.strip())} - {"", None}


def lookup() -> checks.Lookup:
    return checks.Lookup(current_app.config.get("QRP_DNS_RESOLVER"))


# -- reading ------------------------------------------------------------------------------------

def list_domains() -> list[Domain]:
    """The workspace's domains, oldest first (the order the plan's quota keeps them in)."""
    return list(db.session.scalars(select(Domain).order_by(Domain.created_at, Domain.id)))


def get_domain(domain_id: int) -> Domain:
    return get_or_404(Domain, domain_id, "No such domain in this workspace.")


def domains_used() -> int:
    """The quota's usage counter: every domain of the workspace, whatever its status."""
    return db.session.scalar(select(func.count()).select_from(Domain)) or 0


def read_only_ids() -> set[int]:
    """The domains beyond the plan's quota (the newest ones): they keep serving their codes
    but take no new ones and no changes."""
    allowed = quotas.limit(QUOTA)
    if allowed is None:
        return set()
    ids = list(db.session.scalars(select(Domain.id).order_by(Domain.created_at, Domain.id)))
    return set(ids[allowed:])


def read_only_reason(domain: Domain) -> str | None:
    if domain.id not in read_only_ids():
        return None
    allowed = quotas.limit(QUOTA)
    return (f"Your {quotas.current_plan().capitalize()} plan includes {allowed} custom "
            f"domain{'' if allowed == 1 else 's'}, so {domain.name} is read-only: it keeps "
            "redirecting the codes it has, but takes no new codes and no changes. Upgrade the "
            "plan, or move its codes to the platform's domain and remove it.")


def verification(domain: Domain) -> list[dict[str, str]]:
    """The DNS records to create: the TXT record that proves the domain is the workspace's
    (once), and the record that points it at us (for good)."""
    dn = _domain_name(domain.name)
    relative = dn.name[: -len(dn.registrable)].rstrip(".") if dn.registrable else dn.name
    records = [{"type": "TXT", "host": checks.txt_host(dn.name),
                "name": f"{checks.TXT_PREFIX}.{relative}" if relative else checks.TXT_PREFIX,
                "value": checks.txt_value(domain.token), "purpose": "ownership"}]
    if dn.is_apex or not cname_target():
        records += [{"type": "AAAA" if ":" in address else "A", "host": dn.name,
                     "name": relative or "@", "value": address, "purpose": "routing"}
                    for address in our_addresses()]
    else:
        records.append({"type": "CNAME", "host": dn.name, "name": relative,
                        "value": cname_target(), "purpose": "routing"})
    return records


def http_verification(domain: Domain) -> dict[str, str]:
    """The other way to prove ownership: a file the domain's current web server serves."""
    return {"url": checks.token_url(domain.name), "content": domain.token}


def _domain_name(name: str) -> names.DomainName:
    """A stored name's parts. The public suffix list changes with its releases: a name it no
    longer knows is looked at as a subdomain, never refused after the fact."""
    try:
        return names.parse(name)
    except names.InvalidName:
        return names.DomainName(name, names.display(name), registrable="")


# -- adding -------------------------------------------------------------------------------------

def _actor_id() -> int | None:
    user = g.get("user") if has_request_context() else None
    return user.id if user is not None else None


def add_domain(text: str) -> Domain:
    dn = names.parse(text, reserved_hosts())
    if dn.is_apex and not our_addresses():
        raise names.InvalidName(
            f"{dn.unicode} is a root domain, which DNS cannot point elsewhere by CNAME; add a "
            f"subdomain such as go.{dn.unicode} instead.")
    if db.session.scalar(select(Domain.id).where(Domain.name == dn.name)) is not None:
        raise Conflict(f"{dn.label} is already one of this workspace's domains.", field="name")
    if _serving_elsewhere(dn.name):
        raise Conflict(f"{dn.label} is in use by another workspace. If it is yours, remove it "
                       "there first.", field="name")
    quotas.check(QUOTA)
    domain = Domain(name=dn.name, status=PENDING, token=secrets.token_hex(16), findings=[],
                    next_check_at=now() + FIRST_RETRY, created_by_id=_actor_id())
    db.session.add(domain)
    db.session.flush()
    events.publish("domains.added", _event_data(domain))
    db.session.commit()
    return domain


def _serving_elsewhere(name: str) -> bool:
    workspace_id = current_workspace_id()
    with unscoped():
        return db.session.scalar(select(Domain.id).where(
            Domain.name == name, Domain.status.in_(SERVING),
            Domain.workspace_id != workspace_id)) is not None


def _event_data(domain: Domain, **extra) -> dict[str, Any]:
    return {"domain_id": domain.id, "name": domain.name, "status": domain.status, **extra}


# -- checking -----------------------------------------------------------------------------------

def verify_now(domain_id: int) -> Domain:
    """Look at the domain now (the "Check now" button, POST /domains/{id}/verify)."""
    return check(get_domain(domain_id), trigger="manual")


def check(domain: Domain, trigger: str) -> Domain:
    config = current_app.config
    look = checks.look(_domain_name(domain.name), domain.token, lookup=lookup(),
                       target=cname_target(), addresses=our_addresses(),
                       owned_already=domain.owned, http_port=config["DOMAINS_HTTP_CHECK_PORT"],
                       policy=netguard.Policy.current())
    if look.owned and not domain.owned and _serving_elsewhere(domain.name):
        look.owned = False
        look.findings.insert(0, checks.Finding(
            "TXT", checks.txt_host(domain.name), checks.txt_value(domain.token), False,
            f"{domain.name} is in use by another workspace; it must be removed there before "
            "it can be verified here."))
    return _record(domain, look, trigger)


def _record(domain: Domain, look: checks.Look, trigger: str) -> Domain:
    moment, before = now(), domain.status
    if look.owned and not domain.owned:
        domain.owned_at = moment
    if domain.owned and look.pointing is True:
        domain.status = VERIFIED
    elif domain.serving and look.pointing is False:
        domain.status = MISCONFIGURED
    healthy = domain.status == VERIFIED and look.conclusive
    domain.failed_checks = 0 if healthy else domain.failed_checks + 1
    domain.next_check_at = moment + _interval(domain)
    domain.last_checked_at = moment
    domain.findings = [f.as_dict() for f in look.findings]
    db.session.add(DomainCheck(domain_id=domain.id, checked_at=moment, trigger=trigger,
                               status_before=before, status_after=domain.status,
                               conclusive=look.conclusive, findings=domain.findings))
    _transition(domain, before, moment, look)
    db.session.flush()
    _trim_checks(domain.id)
    db.session.commit()
    if before != domain.status:
        hostmap.forget(domain.name)
    return domain


def _interval(domain: Domain) -> timedelta:
    if domain.status == VERIFIED and domain.failed_checks == 0:
        return VERIFIED_INTERVAL
    return min(FIRST_RETRY * 2 ** min(domain.failed_checks, 20), LONGEST_RETRY)


def _transition(domain: Domain, before: str, moment: datetime, look: checks.Look) -> None:
    if before == domain.status:
        return
    if domain.status == VERIFIED:
        domain.verified_at = domain.verified_at or moment
        recovered = before == MISCONFIGURED
        domain.misconfigured_since = domain.notified_at = None
        events.publish("domains.verified", _event_data(domain, recovered=recovered))
    elif domain.status == MISCONFIGURED:
        domain.misconfigured_since = moment
        events.publish("domains.misconfigured", _event_data(domain, problems=look.problems))
        _tell_owners(domain, look, moment)


def _tell_owners(domain: Domain, look: checks.Look, moment: datetime) -> None:
    codes = len(qr.codes_on_domain(domain.name))
    page = public_url("domains.detail", domain_id=domain.id)
    for address in auth.member_emails(domain.workspace_id):
        notify.send_email(address, "domains_misconfigured",
                          subject=f"{domain.name} no longer points at QR Platform",
                          workspace_id=domain.workspace_id, domain=domain.name,
                          problems=look.problems, codes=codes, page=page)
    domain.notified_at = moment


def _trim_checks(domain_id: int) -> None:
    keep = select(DomainCheck.id).where(DomainCheck.domain_id == domain_id) \
        .order_by(DomainCheck.checked_at.desc(), DomainCheck.id.desc()).limit(CHECKS_KEPT)
    stale = db.session.scalars(select(DomainCheck).where(
        DomainCheck.domain_id == domain_id, DomainCheck.id.not_in(keep)))
    for row in stale:
        db.session.delete(row)


def recent_checks(domain_id: int, limit: int = 10) -> list[DomainCheck]:
    return list(db.session.scalars(
        select(DomainCheck).where(DomainCheck.domain_id == domain_id)
        .order_by(DomainCheck.checked_at.desc(), DomainCheck.id.desc()).limit(limit)))


def check_due(limit: int = DUE_PER_RUN) -> int:
    """The scheduled job's work: look at every domain whose next check is due (across
    workspaces), each in its own workspace's scope. Returns how many were looked at."""
    with unscoped():
        due = db.session.execute(
            select(Domain.id, Domain.workspace_id).where(Domain.next_check_at <= now())
            .order_by(Domain.next_check_at).limit(limit)).all()
    done = 0
    for domain_id, workspace_id in due:
        with tenant_scope(workspace_id):
            try:
                domain = db.session.get(Domain, domain_id)
                if domain is not None:
                    check(domain, trigger="scheduled")
                    done += 1
            except Exception:  # one domain's trouble must not keep the others unchecked
                db.session.rollback()
                log.exception("checking domain %s failed", domain_id)
        jobs.progress(done, len(due), f"Checked {done} of {len(due)} domains")
    return done


# -- routing ------------------------------------------------------------------------------------

def host_entry(name: str) -> dict[str, Any] | None:
    """What routing needs to know about a Host that may be a custom domain (the host map's
    loader): the serving domain of that name, or None."""
    with unscoped():
        domain = db.session.scalar(select(Domain).where(Domain.name == name,
                                                        Domain.status.in_(SERVING)))
        if domain is None:
            return None
        return {"domain_id": domain.id, "workspace_id": domain.workspace_id,
                "name": domain.name, "status": domain.status, "root_url": domain.root_url,
                "not_found_url": domain.not_found_url}


def certificate_allowed(name: str) -> bool:
    """Whether a TLS certificate may be issued for ``name`` (Caddy's on-demand ask): only for
    a verified domain."""
    name = hosts.normalise_host(name)
    if not name or len(name) > names.MAX_NAME:
        return False
    entry = hostmap.host_map().get(name)
    return entry is not None and entry["status"] == VERIFIED


def link_domains(workspace_id: int) -> list[hosts.LinkDomain]:
    """The verified domains (within the quota) that new links of the workspace may use."""
    with tenant_scope(workspace_id):
        read_only = read_only_ids()
        return [hosts.LinkDomain(d.name, names.label(d.name)) for d in list_domains()
                if d.status == VERIFIED and d.id not in read_only]


# -- settings -----------------------------------------------------------------------------------

def _clean_url(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if len(value) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidUrl("Use a full web address such as https://brand.com/.", field=field)
    return value


def update_domain(domain_id: int, data: dict[str, Any]) -> Domain:
    """Where ``/`` sends visitors (``root_url``) and where unknown paths do
    (``not_found_url``); empty for the built-in page."""
    domain = get_domain(domain_id)
    if reason := read_only_reason(domain):
        raise Conflict(reason)
    changed = []
    for field in ("root_url", "not_found_url"):
        if field in data and (value := _clean_url(data[field], field)) != getattr(domain,
                                                                                   field):
            setattr(domain, field, value)
            changed.append(field)
    if changed:
        events.publish("domains.updated", _event_data(domain, changed=changed))
        db.session.commit()
        hostmap.forget(domain.name)
    return domain


# -- never breaking printed codes -----------------------------------------------------------------

def usage(domain: Domain) -> dict[str, Any]:
    """What uses the domain: its codes (archived ones included, they are printed too) and
    their scans in the last 30 days (None when the analytics plugin is not enabled)."""
    codes = qr.codes_on_domain(domain.name)
    scans = None
    if registry().enabled("analytics") and codes:
        from qrp_analytics import services as analytics

        scans = analytics.scans_of_codes([c["id"] for c in codes], days=SCAN_WINDOW_DAYS)
    elif registry().enabled("analytics"):
        scans = 0
    return {"codes": len(codes), "active_codes": sum(not c["archived"] for c in codes),
            "scans_30_days": scans}


def redirect_map(domain: Domain) -> bytes:
    """The domain's redirect map as CSV (short URL, destination), for serving the printed
    codes elsewhere."""
    buffer = io.StringIO()
    writer = csvfiles.writer(buffer)
    writer.writerow(("short_url", "destination"))
    writer.writerows((c["short_url"], c["destination"]) for c in qr.codes_on_domain(domain.name))
    return buffer.getvalue().encode("utf-8")


def start_move(domain_id: int) -> jobs.Job:
    """Move every code on the domain to the platform's short links, in a job with progress."""
    domain = get_domain(domain_id)
    job = jobs.enqueue("domains.move_codes", domain.name, retries=2,
                       description=f"Moving codes off {domain.name}")
    db.session.commit()
    return job


def move_codes(name: str) -> dict[str, Any]:
    """The job's work: batches of codes back to the platform's domain, with progress."""
    total = len(qr.codes_on_domain(name))
    moved = 0
    while batch := qr.move_codes_off_domain(name, MOVE_BATCH):
        moved += batch
        jobs.progress(moved, total, f"Moved {moved:,} of {total:,} codes")
    return {"moved": moved, "domain": name}


def remove_domain(domain_id: int, *, force: bool = False) -> jobs.Job | None:
    """Remove a domain. While codes still use it this refuses (409) with what they are,
    unless ``force``: then their short links move to the platform's domain (a job, returned),
    and the printed ones stop working once the domain no longer points at us."""
    domain = get_domain(domain_id)
    used = usage(domain)
    if used["codes"] and not force:
        scans = (f" and had {used['scans_30_days']:,} scans in the last {SCAN_WINDOW_DAYS} days"
                 if used["scans_30_days"] is not None else "")
        raise Conflict(
            f"{used['codes']:,} QR code(s) use {domain.name}{scans}: printed ones stop "
            "working when it goes. Download the redirect map, move the codes to the "
            "platform's domain, or remove it anyway (force).")
    name = domain.name
    events.publish("domains.removed", _event_data(domain, codes=used["codes"]))
    db.session.delete(domain)
    job = None
    if used["codes"]:
        job = jobs.enqueue("domains.move_codes", name, retries=2,
                           description=f"Moving codes off {name}")
    db.session.commit()
    hostmap.forget(name)
    return job
