"""Figure 6: the browser page (`/`) in Debian's chromium, driven by Playwright.

6a. Bytes transferred on a first load with an empty cache: every response body and header the
    browser received until the network went idle (the page, its files and the key probe), as the
    DevTools protocol counts them (`encodedDataLength`). Target: at most 300 KB.
6b. Time to first streamed token as a person sees it: from the Send click to the first answer
    text in the page (a MutationObserver in the page), against the official openai SDK's first
    content delta on the same server, same prompt, same max_tokens (16: the first token does
    not depend on it). Rounds alternate which
    client goes first, so neither always meets a warm prompt cache; medians are compared.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
from typing import TYPE_CHECKING, Any

from bench.common import Context, Row, ms, openai_client, prompt, ratio, stream_once

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

FIRST_LOAD_TARGET = 300 * 1024
# The first token does not depend on the answer's length; short answers keep rounds short.
TTFT_MAX_TOKENS = 16

# Resolves with the milliseconds from the Send click to the first answer text in the list.
_TIME_TO_FIRST_TEXT = """
(text) => new Promise((resolve) => {
  const list = document.getElementById("messages");
  document.getElementById("prompt").value = text;
  let started = 0;
  const observer = new MutationObserver(() => {
    const body = list.querySelector(".message.assistant:last-child .body");
    if (body && body.textContent.length) {
      observer.disconnect();
      resolve(performance.now() - started);
    }
  });
  observer.observe(list, { subtree: true, childList: true, characterData: true });
  started = performance.now();
  document.getElementById("send").click();
})
"""


def first_load(browser: Browser, url: str) -> tuple[int, int]:
    """Bytes and requests of a cold first load of `url` + "/"."""
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        sizes: dict[str, float] = {}
        cdp.on(
            "Network.loadingFinished",
            lambda event: sizes.__setitem__(event["requestId"], event["encodedDataLength"]),
        )
        page.goto(url + "/", wait_until="networkidle")
        return int(sum(sizes.values())), len(sizes)
    finally:
        context.close()


def signed_in_page(browser: Browser, url: str, api_key: str, max_tokens: int) -> Page:
    page = browser.new_context().new_page()
    page.goto(url + "/")
    page.get_by_label("API key", exact=True).fill(api_key)
    page.get_by_role("button", name="Use this key").click()
    page.get_by_role("tab", name="Chat").wait_for()
    page.get_by_text("Model and system prompt").click()
    page.get_by_label("Max tokens").fill(str(max_tokens))
    return page


def page_ttft(page: Page, text: str) -> float:
    """Seconds from Send to the first answer text; waits for the answer to end, then clears."""
    seconds = float(page.evaluate(_TIME_TO_FIRST_TEXT, text)) / 1000
    page.locator(".message.assistant.streaming").wait_for(state="detached", timeout=300_000)
    page.get_by_role("button", name="New chat").click()
    return seconds


def compare_ttft(
    browser: Browser, url: str, api_key: str, max_tokens: int, rounds: int
) -> tuple[list[float], list[float]]:
    page = signed_in_page(browser, url, api_key, max_tokens)
    # Playwright's sync API keeps an event loop on this thread: the SDK gets its own thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    client = on_loop(_client(url, api_key))
    in_page: list[float] = []
    sdk: list[float] = []
    try:
        for i in range(rounds + 1):  # round 0 warms both up and is not counted
            text = prompt(100 + i)
            order = ("page", "sdk") if i % 2 else ("sdk", "page")
            for who in order:
                if who == "page":
                    seconds = page_ttft(page, text)
                else:
                    done = on_loop(stream_once(client, "default", text, max_tokens))
                    if done.error:
                        raise RuntimeError(f"SDK stream failed: {done.error}")
                    seconds = done.ttft
                if i:
                    (in_page if who == "page" else sdk).append(seconds)
    finally:
        on_loop(client.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        page.context.close()
    return in_page, sdk


async def _client(url: str, api_key: str) -> Any:
    return openai_client(url + "/v1", api_key, 1)


def run(ctx: Context, url: str, api_key: str) -> list[Row]:
    from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, install_chromium

    reason = install_chromium()
    if reason:
        note = f"no browser: {reason}"
        return [Row("6a. page first load", "not run", target="≤ 300 KB", note=note)]
    from playwright.sync_api import sync_playwright

    rounds = 5 if ctx.quick else 7
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            size, requests = first_load(browser, url)
            ctx.log(f"first load: {size} bytes in {requests} requests")
            in_page, sdk = compare_ttft(browser, url, api_key, TTFT_MAX_TOKENS, rounds)
        finally:
            browser.close()
    page_ms, sdk_ms = statistics.median(in_page), statistics.median(sdk)
    ctx.log(f"first token, page: {', '.join(ms(t) for t in in_page)}")
    ctx.log(f"first token, openai SDK: {', '.join(ms(t) for t in sdk)}")
    return [
        Row(
            "6a. page first load",
            f"{size / 1024:.1f} KB ({requests} requests)",
            target="≤ 300 KB",
            ok=size <= FIRST_LOAD_TARGET,
        ),
        Row(
            "6b. first token in the page (median)",
            ms(page_ms),
            baseline=f"openai SDK {ms(sdk_ms)}",
            ratio=ratio(page_ms, sdk_ms),
        ),
    ]
