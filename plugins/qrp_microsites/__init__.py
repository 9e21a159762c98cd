"""The microsites plugin: block-built mobile landing pages behind QR codes, rendered once at
publish time and served from the cache, never re-rendered per view."""
