"""The Compare page in headless Chromium: 10 executions x 5 list metrics of
50,000 values, recorded through the pipeline.

Each repeat opens the page in a fresh browser context (nothing cached) and
reads, from the page itself, the milliseconds from navigation start to the
first chart drawn (`data-first-chart-at` on `<main>`) and to every chart drawn
(`data-ready-at`), and the bytes transferred (Resource Timing `transferSize`
of the document and every resource it loaded: headers and bodies).
"""

from __future__ import annotations

import asyncio
from typing import Final
from urllib.parse import urlencode

from playwright.async_api import Browser, async_playwright

from benchmarks.harness import dataset
from benchmarks.harness.runner import Measurement, Scale, measure
from stepmetrics.producers.events import MAX_LIST_VALUES
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.support.services import BenchStack

FAMILY: Final = "web"
EXECUTIONS: Final = 10
LISTS: Final = 5
TRANSFERRED = """() => {
  const entries = [...performance.getEntriesByType("navigation"),
                   ...performance.getEntriesByType("resource")];
  return entries.reduce((sum, e) => sum + e.transferSize, 0);
}"""


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """First chart drawn, page fully drawn (ms) and bytes transferred of the Compare page."""
    count = scale.count(EXECUTIONS, minimum=2)
    length = min(MAX_LIST_VALUES, scale.count(MAX_LIST_VALUES, minimum=200))
    prefix = dataset.unique("web")
    executions = [
        dataset.execution(f"{prefix}-{i}", "bench-web", lists=LISTS, list_len=length, chunk=1000)
        for i in range(count)
    ]
    dataset.ingest(stack, executions)
    path = "/compare?" + urlencode([("e", e["id"]) for e in executions])
    samples = asyncio.run(_load_pages(stack, path, scale.repeats))
    note = f"{count} executions x {LISTS} lists x {length:,} values, fresh browser context"
    return [
        measure(FAMILY, "compare page first chart drawn", samples["first"], "ms",
                higher_is_better=False, note=note),
        measure(FAMILY, "compare page fully drawn", samples["ready"], "ms", target=1500,
                higher_is_better=False, note="navigation start to every chart drawn"),
        measure(FAMILY, "compare page bytes transferred", samples["mb"], "MB", target=2.0,
                higher_is_better=False, note="document, scripts, styles, JSON and buckets"),
    ]  # fmt: skip


async def _load_pages(stack: BenchStack, path: str, repeats: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"first": [], "ready": [], "mb": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(repeats):
                for key, value in (await _load_once(browser, stack, path)).items():
                    samples[key].append(value)
        finally:
            await browser.close()
    return samples


async def _load_once(browser: Browser, stack: BenchStack, path: str) -> dict[str, float]:
    page = await sign_in(browser, stack.api_url, stack.token)
    try:
        await page.goto(path)
        await page.wait_for_selector("main[data-state=ready]", timeout=60_000)
        main = page.locator("main")
        charts = await page.locator("figure.chart").count()
        if charts != LISTS:
            raise RuntimeError(f"the Compare page drew {charts} charts, not {LISTS}")
        return {
            "first": float(str(await main.get_attribute("data-first-chart-at"))),
            "ready": float(str(await main.get_attribute("data-ready-at"))),
            "mb": float(await page.evaluate(TRANSFERRED)) / 1e6,
        }
    finally:
        await page.context.close()
