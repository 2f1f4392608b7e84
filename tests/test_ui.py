"""The web UI in Debian's Chromium (Playwright): login, every page with real demo-like data and no
console errors, drill-down model -> call -> trace, key shown once, silences; screenshots of every
page go to test-artifacts/ui/ (the slow variant adds dark theme and phone width)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ADMIN_TOKEN
from test_ui_env import TRACE_MODEL, UIEnv, start_ui_env
from vigil.reports.command import BROWSER_FLAGS

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"
ARGS = BROWSER_FLAGS
PAGES = ["/", "/llm", "/cost", "/ml", "/alerts", "/logs", "/keys", "/settings"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIEnv]:
    e = start_ui_env(tmp_path_factory.mktemp("ui"))
    yield e
    e.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Tab:
    """A page with console errors collected; `open` waits until the page's data is rendered."""

    def __init__(self, browser: Any, env: UIEnv, **context: Any) -> None:
        self.env = env
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self, token: str = ADMIN_TOKEN) -> None:
        self.page.goto(self.env.url + "/login")
        self.page.get_by_label("Token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.env.url + "/")
        self.wait_ready()

    def open(self, path: str) -> Any:
        self.page.goto(self.env.url + path)
        self.wait_ready()
        return self.page

    def wait_ready(self) -> None:
        self.page.wait_for_selector("body[data-ready='1']", timeout=20_000)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def test_login_required_then_every_page_renders_real_data(env: UIEnv, browser: Any) -> None:
    tab = Tab(browser, env, viewport={"width": 1366, "height": 900})
    tab.page.goto(env.url + "/llm")
    assert "/login" in tab.page.url  # refused without a session
    tab.page.get_by_label("Token").fill("not-the-token")
    tab.page.get_by_role("button", name="Sign in").click()
    assert tab.page.get_by_role("alert").inner_text().startswith("Wrong")
    tab.shot("login")
    tab.login()

    stats = env.api("/api/v1/stats/models", since="1h")["models"]
    busiest = stats[0]
    page = tab.page
    assert page.locator("#tiles .tile").count() == 6
    assert page.locator("#chart-traffic canvas").count() == 1
    tab.shot("overview")

    page = tab.open("/llm")
    row = page.locator("#models tr", has_text=busiest["model"]).first
    assert f"{busiest['requests']:,}" in row.inner_text()
    tab.shot("llm")

    page = tab.open("/cost")
    assert page.locator("#by-model tbody tr").count() == len(stats)
    assert "demo" in page.locator("#budgets").inner_text()
    tab.shot("cost")

    page = tab.open("/ml")
    assert page.locator("#drift tbody tr").count() >= 3
    assert page.locator("#dists figure").count() >= 3
    assert page.locator("#chart-perf canvas").count() == 1
    tab.shot("ml")

    page = tab.open("/logs")
    assert "order lookup timed out" in page.locator("#logs").inner_text()
    tab.shot("logs")

    page = tab.open("/alerts")
    assert page.locator("#firing").inner_text().strip()  # data or an empty state, never blank
    tab.shot("alerts")

    page = tab.open("/settings")
    config = page.locator("#config").inner_text()
    assert "********" in config and "churn-classifier" in config
    tab.shot("settings")

    page = tab.open("/keys")
    assert "demo" in page.locator("#keys").inner_text()
    tab.shot("keys")
    assert tab.errors == []
    tab.close()


def test_drill_down_model_call_trace(env: UIEnv, browser: Any) -> None:
    tab = Tab(browser, env, viewport={"width": 1366, "height": 900})
    tab.login()
    page = tab.open("/llm")
    page.locator("#models a", has_text=TRACE_MODEL).first.click()
    tab.wait_ready()
    assert page.url.startswith(f"{env.url}/llm/{TRACE_MODEL}")
    page.locator("#calls tbody tr").first.wait_for()
    # gateway calls carry captured bodies, shown parsed (the OTLP-ingested call has none)
    links = page.locator('#calls a[href^="#call-"]')
    details = []
    for i in range(min(links.count(), 5)):
        links.nth(i).click()
        page.locator("#call-detail").wait_for()
        page.wait_for_function(
            "id => document.getElementById('call-json').textContent.includes(id)",
            arg=links.nth(i).get_attribute("href")[len("#call-") :],
        )
        details.append(page.locator("#call-json").inner_text())
        if '"request_body": {' in details[-1]:
            break
    assert '"request_body": {' in details[-1] and '"messages"' in details[-1], details
    tab.shot("llm-model")
    page.locator("#calls a", has_text="view trace").first.click()
    tab.wait_ready()
    assert env.trace_id in page.url
    waterfall = page.locator("#waterfall")
    assert waterfall.locator(".span-row").count() == 2
    waterfall.get_by_role("button", name=f"chat {TRACE_MODEL}", exact=False).click()
    detail = page.locator("#span-json").inner_text()
    assert "gen_ai.usage.input_tokens" in detail
    assert "sk-provider" not in detail and "********" in detail  # the prompt quoted a key
    assert "order lookup timed out" in page.locator("#trace-logs").inner_text()
    tab.shot("trace")
    assert tab.errors == []
    tab.close()


def test_key_creation_shows_the_key_exactly_once(env: UIEnv, browser: Any) -> None:
    tab = Tab(browser, env, viewport={"width": 1366, "height": 900})
    tab.login()
    page = tab.open("/keys")
    page.get_by_label("Alias").fill("ui-created")
    page.get_by_label("Team").fill("web")
    page.get_by_role("button", name="Create key").click()
    page.locator("#new-key:not([hidden])").wait_for()
    key = page.locator("#new-key-value").inner_text()
    assert key.startswith("vk-") and len(key) > 20
    page.locator("#keys tr", has_text="ui-created").wait_for()
    assert page.content().count(key) == 1
    tab.shot("keys-created")
    page = tab.open("/keys")
    assert key not in page.content() and key[:8] in page.content()
    listed = env.api("/api/v1/keys")["keys"]
    assert key not in str(listed) and any(k["alias"] == "ui-created" for k in listed)
    page.on("dialog", lambda d: d.accept())
    page.locator("#keys tr", has_text="ui-created").get_by_role("button", name="Revoke").click()
    page.locator("#status", has_text="revoked").wait_for()
    assert tab.errors == []
    tab.close()


def test_silence_creation(env: UIEnv, browser: Any) -> None:
    if not env.api("/api/v1/ui/features")["silences"]:
        pytest.skip("the alerts API (/api/v1/silences, issue 8) is not on this server yet")
    tab = Tab(browser, env, viewport={"width": 1366, "height": 900})
    tab.login()
    page = tab.open("/alerts")
    page.get_by_label("Matcher value").fill("VigilLatencyP95High")
    page.get_by_role("button", name="Create silence").click()
    page.locator("#silences tr", has_text="VigilLatencyP95High").wait_for()
    page.locator("#silences tr", has_text="VigilLatencyP95High").get_by_role(
        "button", name="Expire"
    ).click()
    page.locator("#silences tr", has_text="expired").wait_for()
    assert tab.errors == []
    tab.close()


@pytest.mark.slow
def test_dark_theme_and_phone_width_screenshots(env: UIEnv, browser: Any) -> None:
    for theme, viewport in (("dark", {"width": 1366, "height": 900}), ("light", None)):
        context: dict[str, Any] = {"color_scheme": theme}
        if viewport:
            context["viewport"] = viewport
        else:
            context["viewport"] = {"width": 390, "height": 844}
            context.update(device_scale_factor=2, is_mobile=True, has_touch=True)
        tab = Tab(browser, env, **context)
        tab.login()
        for path in PAGES:
            page = tab.open(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= page.viewport_size["width"] + 1, (path, width)  # no sideways scroll
            name = "overview" if path == "/" else path.strip("/")
            tab.shot(f"{name}-{theme if viewport else 'phone'}")
        assert tab.errors == []
        tab.close()
