"""The billing plugin: Stripe plans, checkout, the customer portal, verified and idempotent
webhooks, dunning, and the usage page that shows each plan quota against its limit."""
