"""For tests in a real browser: Debian's Chromium driven by Playwright (it never downloads
one), and a browser context that cannot reach any host but this machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

# Debian's Chromium (apt-get install chromium); GitHub's runners have Google Chrome.
CHROMIUM = next(
    (p for p in (Path("/usr/bin/chromium"), Path("/usr/bin/google-chrome")) if p.exists()),
    Path("/usr/bin/chromium"),
)
TIMEOUT_MS = 60_000

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium)"
)


@contextmanager
def chromium(*args: str) -> Iterator[Any]:
    """A launched Chromium (Playwright's Browser), with these command-line flags."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(args))
        try:
            yield launched
        finally:
            launched.close()


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def offline_context(browser: Any) -> tuple[Any, list[str]]:
    """A new context whose requests to any other host are aborted as if the network were down
    (an air-gapped cluster), and the list that collects the URLs of those requests."""
    refused: list[str] = []

    def refuse(route: Any) -> None:
        refused.append(route.request.url)
        route.abort("internetdisconnected")

    context = browser.new_context()
    context.route(lambda url: urlsplit(url).hostname not in LOCAL_HOSTS, refuse)
    return context, refused
