"""The GraphiQL page as HTML and the vendored files on disk (no server, no browser)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from contactplan.graphiql import (
    CONTENT_SECURITY_POLICY,
    GRAPHIQL_STATIC_DIR,
    SCRIPTS,
    STYLESHEETS,
    graphiql_html,
)


class PageParts(HTMLParser):
    """What a page loads and runs: every URL attribute, inline scripts and styles, CSP."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag, url)
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline_code: list[str] = []
        self.style_attributes: list[str] = []
        self.event_handlers: list[str] = []
        self.csp: list[str] = []
        self.elements: dict[str, dict[str, str | None]] = {}
        self._in_code: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("src", "href", "action", "formaction", "data", "poster"):
            if a.get(name) is not None:
                self.urls.append((tag, a[name] or ""))
        if tag == "script":
            if a.get("src"):
                self.scripts.append(a["src"] or "")
            self._in_code = "script"
        if tag == "style":
            self._in_code = "style"
        if tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a.get("href") or "")
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(a.get("content") or "")
        if "style" in a:
            self.style_attributes.append(tag)
        self.event_handlers += [name for name in a if name.startswith("on")]
        if a.get("id"):
            self.elements[a["id"] or ""] = a

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._in_code = None

    def handle_data(self, data: str) -> None:
        if self._in_code and data.strip():
            self.inline_code.append(data)


def parse(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    return parts


def test_page_loads_only_assets_under_the_static_prefix():
    parts = parse(graphiql_html())
    assert parts.urls, "the page should load its assets"
    for tag, url in parts.urls:
        assert url.startswith("/static/graphiql/"), (tag, url)
    assert parts.scripts == [f"/static/graphiql/{name}" for name in SCRIPTS]
    assert parts.stylesheets == [f"/static/graphiql/{name}" for name in STYLESHEETS]


def test_page_has_no_inline_code_and_no_external_urls():
    html = graphiql_html()
    parts = parse(html)
    assert parts.inline_code == []
    assert parts.style_attributes == []
    assert parts.event_handlers == []
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", html.replace("'", '"')), (
        "no absolute or protocol-relative URL may appear in the page"
    )


def test_page_declares_a_csp_that_allows_only_this_server():
    parts = parse(graphiql_html())
    assert parts.csp == [CONTENT_SECURITY_POLICY]
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    style_sources = directives["style-src"].split()
    assert style_sources[0] == "'self'"
    assert all(s.startswith("'sha256-") for s in style_sources[1:])
    for name in ("img-src", "font-src"):
        assert directives[name].split() == ["'self'", "data:"]


def test_page_has_a_bearer_token_input_and_a_login_form():
    parts = parse(graphiql_html())
    assert parts.elements["cp-token"]["type"] == "password"
    assert "cp-login-form" in parts.elements
    assert "Bearer token" in graphiql_html()


def test_endpoint_and_prefix_are_used_and_escaped():
    html = graphiql_html(endpoint='/api/graphql?x="1"&y=2', static_prefix="/assets/giql/")
    parts = parse(html)
    assert parts.elements["graphiql"]["data-endpoint"] == '/api/graphql?x="1"&y=2'
    assert 'x="1"' not in html
    assert all(url.startswith("/assets/giql/") for _, url in parts.urls)
    assert not any("//" in url for _, url in parts.urls)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("endpoint", "https://example.com/graphql"),
        ("endpoint", "//example.com/graphql"),
        ("endpoint", "graphql"),
        ("static_prefix", "https://cdn.example.com/graphiql"),
        ("static_prefix", "//cdn.example.com/graphiql"),
    ],
)
def test_non_local_endpoint_or_prefix_is_refused_by_name(argument: str, value: str):
    with pytest.raises(ValueError, match=argument):
        graphiql_html(**{argument: value})


def test_every_file_the_page_loads_is_shipped():
    for name in (*SCRIPTS, *STYLESHEETS, "favicon.svg"):
        path = GRAPHIQL_STATIC_DIR / name
        assert path.is_file() and path.stat().st_size > 0, name


def test_vendored_packages_are_pinned_exactly_and_ship_their_licenses():
    manifest = json.loads((GRAPHIQL_STATIC_DIR / "package.json").read_text())
    lock = json.loads((GRAPHIQL_STATIC_DIR / "package-lock.json").read_text())
    pinned = {**manifest["dependencies"], **manifest["devDependencies"]}
    for name, version in pinned.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
    licenses = GRAPHIQL_STATIC_DIR / "vendor" / "licenses"
    for name in manifest["dependencies"]:
        assert "Permission is hereby granted" in (licenses / f"{name}.LICENSE").read_text()
    bundled = (licenses / "graphiql-bundled.txt").read_text()
    for name in ("codemirror", "graphql", "markdown-it", "@radix-ui/react-dialog"):
        assert f"\n{name} " in bundled, name


def test_vendored_bundles_match_the_pinned_versions():
    deps = json.loads((GRAPHIQL_STATIC_DIR / "package.json").read_text())["dependencies"]
    vendor = GRAPHIQL_STATIC_DIR / "vendor"
    react = (vendor / "react.production.min.js").read_text()
    react_dom = (vendor / "react-dom.production.min.js").read_text()
    assert f'.version="{deps["react"]}"' in react
    assert f'reconcilerVersion:"{deps["react-dom"]}"' in react_dom
    assert "window.GraphiQL =" in (vendor / "graphiql.min.js").read_text()


def test_every_static_file_is_installed_with_the_package():
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    package_dir = GRAPHIQL_STATIC_DIR.parents[1]  # contactplan/
    files = [p for p in GRAPHIQL_STATIC_DIR.rglob("*") if p.is_file()]
    assert files
    for path in files:
        relative = path.relative_to(package_dir).as_posix()
        # setuptools globs: "*" does not cross "/", so match segment by segment.
        assert any(
            relative.count("/") == pattern.count("/") and fnmatch.fnmatch(relative, pattern)
            for pattern in patterns["contactplan"]
        ), f"{relative} is not in [tool.setuptools.package-data] contactplan"
