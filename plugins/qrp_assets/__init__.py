"""The assets plugin: every file a workspace uploads, safe to serve behind the CDN."""
