"""Accounts, workspaces and API tokens: who is calling and for which tenant."""
