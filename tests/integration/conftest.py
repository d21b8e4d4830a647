"""The UI browser tests' fixtures: Debian's chromium driven by Playwright. A module that
uses them skips itself where either is missing (``NEEDS_CHROMIUM`` from ui_fixtures and
``pytest.importorskip("playwright.sync_api")``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_fixtures import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (15 s default timeout); the test fails if a
    script on it threw."""
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], errors
