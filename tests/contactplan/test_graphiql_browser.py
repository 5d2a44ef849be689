"""GraphiQL served by the real app under uvicorn, used in headless Chromium with no network.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` Python package, which
drives that browser (never `playwright install`). Every request the browser tries to send
beyond 127.0.0.1 is aborted and recorded, and each test asserts there was none.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Request, async_playwright, expect

from contactplan.graphiql import GRAPHIQL_STATIC_DIR, SCRIPTS, STYLESHEETS
from permissions.bootstrap import create_user, ensure_builtin_profiles

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # Belt and braces with the request router below: no host name resolves except loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOT = Path("/tmp/contactplan-graphiql.png")
USERNAME = "operator"
PASSWORD = "correct horse battery staple"
ME_QUERY = "{ me { user { username } } }"
LOGIN_MUTATION = """
mutation ($username: String!, $password: String!) {
  login(username: $username, password: $password) { token userErrors { message } }
}"""

# The real app: contactplan.app.create_app(settings) under uvicorn on a free loopback port.
LAUNCH_APP = """
import uvicorn
from contactplan.app import create_app
from contactplan.settings import Settings

settings = Settings.from_env()
uvicorn.run(create_app(settings), host="127.0.0.1", port=0, log_level="info")
"""
STARTUP_LIMIT_SECONDS = 90  # a guard against a hung start, not a speed assertion


@pytest.fixture(scope="module")
def app_url(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the real app under uvicorn, on the test database and Redis."""
    log_path = tmp_path_factory.mktemp("graphiql_app") / "uvicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH_APP],
            env=service_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_until_listening(process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(process: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", text)
        if found:
            return found.group(1)
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode}:\n{text}")
        time.sleep(0.1)
    pytest.fail(f"the app did not start listening:\n{log_path.read_text(errors='replace')}")


@pytest_asyncio.fixture(loop_scope="session")
async def operator(db: None, redis: object) -> str:
    """A user in the test database; returns the username (password: PASSWORD)."""
    await ensure_builtin_profiles()
    await create_user(USERNAME, PASSWORD, profile="USER")
    return USERNAME


async def login_over_http(app_url: str, username: str, password: str) -> str:
    """A bearer token from the app's login mutation, as any API client gets one."""
    async with httpx.AsyncClient(base_url=app_url, trust_env=False) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": LOGIN_MUTATION,
                "variables": {"username": username, "password": password},
            },
        )
    response.raise_for_status()
    payload = response.json()["data"]["login"]
    assert payload["token"], payload
    return payload["token"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    assert shutil.which(CHROMIUM), "install Debian's chromium: apt-get install -y chromium"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        await chromium.close()


@dataclass
class Session:
    """One fresh browser profile on the page, and what it tried to do."""

    page: Page
    requests: list[Request] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def assert_offline_and_clean(self) -> None:
        """Nothing left the machine, and the page logged no error (CSP violations included)."""
        assert self.blocked == [], f"requests beyond loopback: {self.blocked}"
        for url in [r.url for r in self.requests] + self.websockets:
            assert urlsplit(url).hostname == "127.0.0.1", url
        assert self.problems == []

    def graphql_posts(self, containing: str) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == "POST" and containing in (r.post_data or "") and "/graphql" in r.url
        ]


@pytest_asyncio.fixture(loop_scope="session")
async def session(browser: Browser) -> AsyncIterator[Session]:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    watched = Session(page)

    async def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            watched.blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_loopback)
    page.on("request", lambda request: watched.requests.append(request))
    page.on("websocket", lambda ws: watched.websockets.append(ws.url))
    page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: (
            watched.problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    expect.set_options(timeout=20_000)
    yield watched
    await context.close()


async def open_graphiql(session: Session, app_url: str) -> None:
    """Open /graphql as a browser does and wait until GraphiQL's editor is on screen."""
    response = await session.page.goto(f"{app_url}/graphql")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "text/html" in (await response.request.all_headers())["accept"]
    await expect(session.page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    await expect(session.page.get_by_text("Loading GraphiQL")).to_have_count(0)


async def run_query(session: Session, query: str) -> None:
    """Put `query` in the editor and press GraphiQL's run button."""
    editor = session.page.locator(".graphiql-query-editor .CodeMirror")
    await editor.evaluate("(element, q) => element.CodeMirror.setValue(q)", query)
    await session.page.click(".graphiql-execute-button")


async def test_graphiql_runs_a_query_with_a_pasted_token_offline(
    app_url: str, operator: str, session: Session
):
    token = await login_over_http(app_url, operator, PASSWORD)
    await open_graphiql(session, app_url)
    await session.page.fill("#cp-token", token)
    await session.page.press("#cp-token", "Enter")

    await run_query(session, ME_QUERY)

    result = session.page.locator(".result-window")
    await expect(result).to_contain_text(f'"username": "{operator}"')
    await session.page.screenshot(path=SCREENSHOT)
    [sent] = session.graphql_posts(containing="me { user { username } }")
    assert (await sent.all_headers())["authorization"] == f"Bearer {token}"
    session.assert_offline_and_clean()


async def test_without_a_token_the_api_says_authentication_required(
    app_url: str, operator: str, session: Session
):
    await open_graphiql(session, app_url)

    await run_query(session, ME_QUERY)

    result = session.page.locator(".result-window")
    await expect(result).to_contain_text('"code": "UNAUTHENTICATED"')
    await expect(result).to_contain_text('"me": null')
    assert operator not in await result.inner_text()
    [sent] = session.graphql_posts(containing="me { user { username } }")
    assert "authorization" not in await sent.all_headers()
    session.assert_offline_and_clean()


async def test_authorization_in_the_headers_editor_wins_over_the_token_bar(
    app_url: str, operator: str, session: Session
):
    token = await login_over_http(app_url, operator, PASSWORD)
    page = session.page
    await open_graphiql(session, app_url)
    await page.fill("#cp-token", token)
    await page.press("#cp-token", "Enter")
    await page.get_by_role("button", name="Headers").click()
    headers_editor = page.locator(".graphiql-editor-tool .CodeMirror").last
    await expect(headers_editor).to_be_visible()
    await headers_editor.evaluate(
        "(element, text) => element.CodeMirror.setValue(text)",
        '{"Authorization": "Bearer not-a-token"}',
    )

    await run_query(session, ME_QUERY)

    await expect(page.locator(".result-window")).to_contain_text('"me": null')
    [sent] = session.graphql_posts(containing="me { user { username } }")
    assert (await sent.all_headers())["authorization"] == "Bearer not-a-token"
    session.assert_offline_and_clean()


async def test_login_helper_fills_the_token_and_it_survives_a_reload(
    app_url: str, operator: str, session: Session
):
    page = session.page
    await open_graphiql(session, app_url)
    await page.click("#cp-login summary")
    await page.fill("#cp-login-form input[name=username]", operator)
    await page.fill("#cp-login-form input[name=password]", PASSWORD)
    await page.click("#cp-login-form button[type=submit]")

    await expect(page.locator("#cp-status")).to_have_text(f"Logged in as {operator}.")
    token = await page.input_value("#cp-token")
    assert token
    await run_query(session, ME_QUERY)
    await expect(page.locator(".result-window")).to_contain_text(f'"username": "{operator}"')

    await page.reload()
    await expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    assert await page.input_value("#cp-token") == token
    await page.click("#cp-token-clear")
    assert await page.input_value("#cp-token") == ""
    await page.reload()
    await expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    assert await page.input_value("#cp-token") == ""
    session.assert_offline_and_clean()


async def test_login_helper_shows_why_a_login_failed(app_url: str, operator: str, session: Session):
    page = session.page
    await open_graphiql(session, app_url)
    await page.click("#cp-login summary")
    await page.fill("#cp-login-form input[name=username]", operator)
    await page.fill("#cp-login-form input[name=password]", "not the password")
    await page.click("#cp-login-form button[type=submit]")

    status = page.locator("#cp-status")
    await expect(status).to_have_class(re.compile(r"\bcp-error\b"))
    assert (await status.inner_text()).strip()
    assert await page.input_value("#cp-token") == ""
    session.assert_offline_and_clean()


async def test_graphiql_dialogs_open_within_the_csp(app_url: str, session: Session):
    page = session.page
    await open_graphiql(session, app_url)

    await page.click("button[aria-label='Open settings dialog']")
    await expect(page.get_by_role("dialog")).to_contain_text("Persist headers")
    await page.keyboard.press("Escape")
    await page.click("button[aria-label='Open short keys dialog']")
    await expect(page.get_by_role("dialog")).to_contain_text("Execute query")

    session.assert_offline_and_clean()


async def test_every_asset_the_page_names_is_served_with_its_type(app_url: str):
    async with httpx.AsyncClient(base_url=app_url, trust_env=False) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        names = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
        expected_types = {
            ".js": ("text/javascript", "application/javascript"),
            ".css": ("text/css",),
            ".svg": ("image/svg+xml",),
        }
        assert {f"/static/graphiql/{n}" for n in (*SCRIPTS, *STYLESHEETS)} <= set(names)
        for name in names:
            response = await client.get(name)
            assert response.status_code == 200, name
            content_type = response.headers["content-type"].split(";")[0]
            assert content_type in expected_types[Path(name).suffix], (name, content_type)
            shipped = GRAPHIQL_STATIC_DIR / name.removeprefix("/static/graphiql/")
            assert response.content == shipped.read_bytes(), name
