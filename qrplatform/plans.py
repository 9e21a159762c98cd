"""The plans a workspace can be on, smallest first. Which limits each plan has is declared
by the plugins (``Plugin.quotas``, read through ``qrplatform.quotas``); what a plan costs is
the billing plugin's business."""

PLANS = ("free", "pro", "business", "enterprise")
DEFAULT_PLAN = "free"
