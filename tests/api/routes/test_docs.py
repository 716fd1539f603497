"""/docs (Swagger UI), its OAuth2 redirect page and /redoc in Debian's Chromium, with every
request to another host aborted (an air-gapped cluster), on a server that requires API keys:
each renders every operation of /openapi.json from this server's files alone, asking no other
host for anything, and needs no key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from support.browser import TIMEOUT_MS, chromium, needs_chromium, offline_context
from support.live import live_server
from support.settings import isolated

pytestmark = needs_chromium

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(
    settings: Settings, analyzer: Analyzer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("docs")
    with live_server(isolated(settings, folder, auth={"required": True}), analyzer) as client:
        assert client.get("/v1/model").status_code == 401  # the API itself is closed
        yield client


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def offline(browser: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page that reaches this machine only; the URLs it tried elsewhere; its script errors."""
    context, refused = offline_context(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, refused, errors
    context.close()


def documented_operations(server: httpx.Client) -> dict[str, tuple[str, str]]:
    """operationId -> (method, path) of every operation in the OpenAPI document."""
    paths = server.get("/openapi.json").json()["paths"]
    return {
        operation["operationId"]: (method, path)
        for path, operations in paths.items()
        for method, operation in operations.items()
    }


def screenshot(page: Any, path: Path) -> None:
    page.screenshot(path=path, full_page=True)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_swagger_ui_renders_every_operation_offline(
    server: httpx.Client, offline: tuple[Any, list[str], list[str]], tmp_path: Path
) -> None:
    page, refused, errors = offline
    page.goto(f"{server.base_url}/docs")
    page.locator(".opblock-post [data-path='/v1/analyze']").wait_for(timeout=TIMEOUT_MS)
    rendered = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(block => [
            block.querySelector('.opblock-summary-method').textContent.toLowerCase(),
            block.querySelector('.opblock-summary-path').dataset.path,
        ])""",
    )
    assert sorted(map(tuple, rendered)) == sorted(documented_operations(server).values())
    screenshot(page, tmp_path / "docs.png")
    assert refused == [] and errors == []


def test_redoc_renders_every_operation_offline(
    server: httpx.Client, offline: tuple[Any, list[str], list[str]], tmp_path: Path
) -> None:
    page, refused, errors = offline
    page.goto(f"{server.base_url}/redoc")
    page.locator("[data-section-id='tag/analysis/operation/analyze_v1_analyze_post']").wait_for(
        timeout=TIMEOUT_MS
    )
    sections = page.eval_on_selector_all(
        "[data-section-id*='/operation/']",
        "sections => sections.map(section => section.dataset.sectionId.split('/operation/')[1])",
    )
    assert sorted(sections) == sorted(documented_operations(server))
    assert page.locator("img[src$='/redoc/logo-mini.svg']").evaluate("img => img.naturalWidth") > 0
    screenshot(page, tmp_path / "redoc.png")
    assert refused == [] and errors == []


def test_the_oauth2_redirect_page_hands_the_token_back_to_swagger_ui(
    server: httpx.Client, offline: tuple[Any, list[str], list[str]]
) -> None:
    """What Swagger UI does in an OAuth2 implicit flow: it opens the provider in a popup, which
    comes back to /docs/oauth2-redirect; that page passes the token to its opener's
    swaggerUIRedirectOauth2 and closes."""
    page, refused, errors = offline
    page.goto(f"{server.base_url}/docs")
    page.locator(".opblock").first.wait_for(timeout=TIMEOUT_MS)
    page.evaluate(
        """() => {
            window.swaggerUIRedirectOauth2 = {
                auth: {name: 'oauth2', schema: {get: () => 'implicit'}},
                state: 'state-1',
                redirectUrl: location.origin + '/docs/oauth2-redirect',
                callback: result => { window.oauth2Result = result; },
                errCb: error => { window.oauth2Result = {error: error.message}; },
            };
        }"""
    )
    with page.context.expect_page() as opened:
        page.evaluate(
            "() => { window.open('/docs/oauth2-redirect#access_token=t0k3n&state=state-1'); }"
        )
    popup = opened.value
    page.wait_for_function("() => window.oauth2Result !== undefined", timeout=TIMEOUT_MS)
    result = page.evaluate(
        "() => ({token: window.oauth2Result.token, isValid: window.oauth2Result.isValid})"
    )
    assert result == {"token": {"access_token": "t0k3n", "state": "state-1"}, "isValid": True}
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not popup.is_closed():  # the page closes itself once it has handed the token over
        assert time.monotonic() < deadline, "the redirect page stayed open"
        page.wait_for_timeout(50)
    assert refused == [] and errors == []
