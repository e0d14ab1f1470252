"""Shared fixtures: a tiny encoder built once per test session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

    from bot.web import WidgetServer
    from tests.servers import RasaStack
    from tests.widget_browser import Shop

# Tests run on 2 shared cores: one thread, no OpenMP busy-waiting, no telemetry.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT with a WordPiece tokenizer trained on multilingual chat lines."""
    from tests.tiny_models import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep exported ONNX files of tiny test models out of the user's cache."""
    os.environ["LINGODESK_CACHE_DIR"] = str(tmp_path_factory.mktemp("lingodesk-cache"))


# -- the widget's browser tests (tests/test_widget*_browser.py; Shop: tests/widget_browser.py)
@pytest.fixture(scope="module")
def model_cache(pytestconfig: pytest.Config) -> Path | None:
    """Trained models survive between test runs (keyed by the project's files), unless pytest
    runs without its cache (``-p no:cacheprovider``)."""
    cache = getattr(pytestconfig, "cache", None)
    return cache.mkdir("lingodesk-models") if cache is not None else None


@pytest.fixture(scope="module")
def web() -> Iterator[WidgetServer]:
    from bot.web import WidgetServer

    with WidgetServer(port=0) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium; module-scoped so its event loop is gone before other test modules."""
    from playwright.sync_api import sync_playwright

    from tests.widget_browser import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def shop(
    browser: Browser, web: WidgetServer, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Shop]]:
    """Opens the demo shop for a new customer: ``shop(lang, locale, stack, dev=False)``.

    Each call is a fresh browser context (no local storage), so every test starts a new
    conversation. A screenshot named after the test is saved when the test ends, pass or fail.
    """
    from playwright.sync_api import expect

    from tests.widget_browser import Shop

    opened: list[tuple[BrowserContext, Shop]] = []

    def open_shop(lang: str, locale: str, stack: RasaStack, dev: bool = False) -> Shop:
        context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 760})
        page = context.new_page()
        page.set_default_timeout(10_000)
        customer = Shop(page, stack, request.node.name.removeprefix("test_"))
        params = {"lang": lang, **({"dev": "1"} if dev else {})}
        page.goto(web.demo_url(stack.url, **params))
        expect(customer.launcher).to_be_visible()
        opened.append((context, customer))
        return customer

    yield open_shop
    for context, customer in opened:
        customer.screenshot()
        context.close()
        assert customer.errors == [], f"JavaScript errors on the page: {customer.errors}"


# -- the shipped assistant served for browser tests (widget handoff, agents' console)
@pytest.fixture(scope="module")
def browser_stack(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path | None
) -> Iterator[RasaStack]:
    """Rasa + lingodesk's action server + Redis serving the shipped assistant (fast NLU)."""
    from benchmarks.assistant import LANGUAGE_ID_MODEL, prepare_shipped_assistant
    from tests.servers import RasaStack, train

    if not LANGUAGE_ID_MODEL.is_file():
        pytest.fail(f"{LANGUAGE_ID_MODEL} is missing: run scripts/setup (it builds it)")
    project = prepare_shipped_assistant(tmp_path_factory.mktemp("shipped-assistant"))
    train(project, cache_dir=model_cache)
    with RasaStack(project) as stack:
        yield stack


@pytest.fixture(scope="module")
def agent_api_url(browser_stack: RasaStack) -> Iterator[str]:
    """A real agent API process (and console) on the browser stack's Redis and Rasa, with the
    accounts ana (agents_es), gianni (agents_it) and carla (supervisor)."""
    import sys

    from bot.supervisor import Service, free_port, single_core_environment
    from tests.agents import add_account_now

    port = free_port()
    handoff_redis = f"{browser_stack.redis.url}/2"
    service = Service(
        "agent API",
        [sys.executable, "-m", "bot.agent.api", "--port", str(port)],
        env=single_core_environment(
            LINGODESK_REDIS_URL=handoff_redis,
            LINGODESK_RASA_URL=browser_stack.url,
            LINGODESK_DOMAIN=str(browser_stack.project / "domain.yml"),
        ),
        log=browser_stack.logs / "agent-api.log",
    ).start()
    try:
        service.wait_for_url(f"http://127.0.0.1:{port}/health", timeout=60)
        for name, role, teams in (
            ("ana", "agent", ("agents_es",)), ("gianni", "agent", ("agents_it",)),
            ("carla", "supervisor", ()),
        ):  # fmt: skip
            add_account_now(handoff_redis, name, role, *teams)
        yield f"http://127.0.0.1:{port}"
    finally:
        service.stop()
