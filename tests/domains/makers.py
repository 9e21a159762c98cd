"""Makers of the domains API's resources, in the shape of tests/test_cross_tenant.MAKERS:
``maker(owner)`` returns the id of a resource that the owner's workspace holds."""

import secrets
from datetime import UTC, datetime

from qrp_domains.models import Domain
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope


def make_domain(owner) -> str:
    """A verified domain of the owner's workspace (written directly: no DNS to ask)."""
    now = datetime.now(UTC)
    with tenant_scope(owner.workspace_id):
        domain = Domain(name=f"go.owners-{secrets.token_hex(5)}.example.com", status="verified",
                        token=secrets.token_hex(16), owned_at=now, verified_at=now,
                        findings=[])
        db.session.add(domain)
        db.session.commit()
        return str(domain.id)


DOMAINS_MAKERS = {"/api/v1/domains/{domain_id}": make_domain}
