"""GraphiQL for operators, served from the app itself: no CDN, a bearer-token bar, strict CSP.

The assets (React, ReactDOM, GraphiQL) are pinned npm packages vendored under
`static/graphiql/vendor/` (see `static/graphiql/UPDATING.md`); the page's own script and
styles sit beside them. Mount `GRAPHIQL_STATIC_DIR` at the `static_prefix` the page uses.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

GRAPHIQL_STATIC_DIR: Path = Path(__file__).resolve().parent / "static" / "graphiql"

# The one inline <style> GraphiQL adds: react-remove-scroll-bar's scroll lock while a dialog
# is open, with a zero gap because this page never scrolls. The browser test opens a dialog
# and fails on any CSP violation, so a GraphiQL update that changes it is caught.
SCROLL_LOCK_STYLE_HASH = "sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc="

# No inline script at all and no other inline style: everything comes from 'self'.
# GraphiQL's CSS embeds its fonts and icons as data: URLs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        f"style-src 'self' '{SCROLL_LOCK_STYLE_HASH}'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)

# Files under GRAPHIQL_STATIC_DIR that the page loads, in load order per kind.
STYLESHEETS = ("vendor/graphiql.min.css", "graphiql-page.css")
SCRIPTS = (
    "vendor/react.production.min.js",
    "vendor/react-dom.production.min.js",
    "vendor/graphiql.min.js",
    "graphiql-page.js",
)
FAVICON = "favicon.svg"


def graphiql_html(endpoint: str = "/graphql", static_prefix: str = "/static/graphiql") -> str:
    """A complete GraphiQL page for `endpoint` that loads only assets under `static_prefix`.

    Both arguments must be paths on this server (start with one "/"): the page's CSP
    allows nothing else, so a URL elsewhere would only fail later and less clearly.
    """
    _require_local_path("endpoint", endpoint)
    _require_local_path("static_prefix", static_prefix)
    prefix = static_prefix.rstrip("/")

    def asset(name: str) -> str:
        return escape(f"{prefix}/{name}", quote=True)

    links = "\n".join(f'<link rel="stylesheet" href="{asset(name)}">' for name in STYLESHEETS)
    scripts = "\n".join(f'<script defer src="{asset(name)}"></script>' for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY, quote=True)}">
<meta name="referrer" content="no-referrer">
<title>contactplan · GraphiQL</title>
<link rel="icon" href="{asset(FAVICON)}" type="image/svg+xml">
{links}
{scripts}
</head>
<body>
<header class="cp-bar">
  <span class="cp-brand">contactplan</span>
  <form id="cp-token-form" class="cp-field">
    <label class="cp-field">Bearer token
      <input id="cp-token" type="password" autocomplete="off" spellcheck="false"
             placeholder="paste a token; sent as Authorization: Bearer …">
    </label>
    <button id="cp-token-clear" type="button">Clear</button>
  </form>
  <details id="cp-login">
    <summary>Log in</summary>
    <form id="cp-login-form" class="cp-login-form">
      <label class="cp-field">Username
        <input name="username" autocomplete="username" required>
      </label>
      <label class="cp-field">Password
        <input name="password" type="password" autocomplete="current-password" required>
      </label>
      <button type="submit">Get token</button>
    </form>
  </details>
  <span id="cp-status" class="cp-status" role="status" aria-live="polite"></span>
</header>
<main id="graphiql" data-endpoint="{escape(endpoint, quote=True)}">
  <p class="cp-loading">Loading GraphiQL…</p>
  <noscript>GraphiQL needs JavaScript.</noscript>
</main>
</body>
</html>
"""


def _require_local_path(name: str, value: str) -> None:
    if not value.startswith("/") or value.startswith("//"):
        raise ValueError(f"{name} must be a path on this server starting with '/', got {value!r}")
