"""What the domains plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from pathlib import Path

from qrp_domains import api, cli, hostmap, jobs, models, routing, services, views
from qrplatform import signals
from qrplatform.extensions import csrf
from qrplatform.plugins import Highlight, NavItem, Permission, Plugin, Quota, RateLimit, Schedule

ALL_ROLES = ("owner", "admin", "editor", "viewer", "billing")


def setup(app) -> None:
    hostmap.init_app(app, services.host_entry)
    # A custom domain's public pages take no form posts worth forging.
    csrf.exempt(routing.bp)


plugin = Plugin(
    name="domains",
    title="Custom domains",
    description="A workspace's short links on its own domain: added, verified by DNS (or a "
                "token file), routed by Host, certificates on demand, removed without "
                "breaking printed codes.",
    requires=["qr"],
    highlights=[Highlight("Your own domain",
                          "Short links on a domain of yours, checked by DNS, with certificates "
                          "taken care of.", icon="globe", order=80)],
    blueprints=[views.bp, routing.bp],
    api_blueprints=[api.blp],
    models=[models.Domain, models.DomainCheck],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("Domains", "domains.index", order=30, permission="domains.view",
                 menu="workspace", icon="globe")],
    events={
        "domains.added": "a custom domain was added, pending verification "
                         "(data: domain_id, name, status)",
        "domains.verified": "a domain proved to be the workspace's and to point at us, or "
                            "points at us again (data: domain_id, name, status, recovered)",
        "domains.misconfigured": "a verified domain no longer points at us; its owners were "
                                 "e-mailed (data: domain_id, name, status, problems)",
        "domains.updated": "a domain's root or 404 destination changed "
                           "(data: domain_id, name, status, changed)",
        "domains.removed": "a domain was removed (data: domain_id, name, status, codes: how "
                           "many codes used it; they move to the platform's domain)",
    },
    jobs=[jobs.check_domains, jobs.move_codes],
    # Pending and misconfigured domains are due after a backoff, verified ones daily: the
    # job runs often and looks only at the domains that are due.
    schedules=[Schedule(jobs.check_domains, every_seconds=300)],
    commands=[cli.cli],
    permissions=[
        Permission("domains.view", "See the workspace's custom domains and their DNS records",
                   ALL_ROLES),
        Permission("domains.manage", "Add, verify, configure and remove custom domains",
                   ("owner", "admin")),
    ],
    quotas={services.QUOTA: Quota({"free": 0, "pro": 3, "business": 20}, services.QUOTA_NOUN,
                                  usage=services.domains_used)},
    rate_limits={
        # Visitors of a custom domain are scanners, like the short links' (exempt there too);
        # Caddy asks once per certificate.
        "domains_public.root": RateLimit.exempt(),
        "domains_public.certificate_allowed": RateLimit.exempt(),
        # Each check asks DNS (and maybe the domain's web server): not in a loop.
        "domains.verify": RateLimit("20 per minute", methods=("POST",)),
        "domains_api.verify_domain": RateLimit("20 per minute", methods=("POST",)),
    },
    settings={
        # Where a domain's CNAME must point; empty: PUBLIC_BASE_URL's host (when that is an
        # IP address, domains point at it by A/AAAA records instead).
        "DOMAINS_CNAME_TARGET": "",
        # Comma-separated addresses a root domain's A/AAAA records must hold; empty: the
        # platform's own when it is reached by an IP address, else root domains cannot be
        # added (only subdomains, by CNAME).
        "DOMAINS_ADDRESSES": "",
        # Extra host names no workspace may add (comma-separated), besides the platform's.
        "DOMAINS_RESERVED": "",
        # The port the token-file check fetches http://<domain>/.well-known/... on.
        "DOMAINS_HTTP_CHECK_PORT": 80,
    },
    wsgi_middleware=[routing.custom_domain_middleware],
    signal_receivers={
        signals.tenant_resolved: routing.resolve_host_tenant,
        signals.public_page_missing: routing.answer_missing,
        signals.link_domains: routing.offer_domains,
    },
    setup=setup,
)
