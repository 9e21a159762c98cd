"""The `teams` plugin: members and roles, invitations, the audit log, two-step sign-in."""
