"""The web interface in Debian's headless Chromium against a real running stack.

Step processes record through the SDK into the real broker; the real worker
writes Redis; the real `stepmetrics api` serves the pages and the JSON they read.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.browser import A11Y_PROBLEMS, signed_in_page
from tests.support.web_stack import TOKEN, WebStack

pytestmark = pytest.mark.browser

STEP_FIRST = """
import math
from stepmetrics.sdk import CraftAiSdk
sdk = CraftAiSdk()
sdk.record_metric_value("accuracy", 0.1409)
sdk.record_metric_value("loss", 1 / 3)
sdk.record_metric_value("diverged", float("nan"))
sdk.record_metric_value("overflow", float("-inf"))
sdk.record_list_metric_values("accuracy_list", [0.89, 0.92, 0.95])
sdk.record_list_metric_values("loss_list", [1.4, 1.2])
sdk.record_list_metric_values("loss_list", [1.1, 1.0])
for i in range(1, 50):
    sdk.record_list_metric_values("logx", math.log(i))
sdk.record_list_metric_values("grad_norm", [1.0, float("nan"), float("inf"), -float("inf"), 0.5])
assert sdk.flush(30)
"""
STEP_MORE = """
from stepmetrics.sdk import CraftAiSdk
sdk = CraftAiSdk()
sdk.record_metric_value("loss", 0.25)
sdk.record_list_metric_values("loss_list", [0.9, 0.8])
assert sdk.flush(30)
"""
STEP_BIG = """
import math
from stepmetrics.sdk import CraftAiSdk
sdk = CraftAiSdk()
for i in range(100):
    sdk.record_metric_value(f"metric_{i:03d}", i / 7)
for j in range(5):
    sdk.record_list_metric_values(f"curve_{j}", [math.sin(i / 900 + j) for i in range(50_000)])
assert sdk.flush(60)
"""
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
# Pixels of the chart's line colour (#1f5fbf) on a canvas.
COUNT_LINE_PIXELS = """canvas => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 128 && data[i + 2] > 150 && data[i] < 110) count++;
  }
  return count;
}"""


def new_execution_id(kind: str) -> str:
    return f"web-{kind}-{uuid.uuid4().hex[:8]}"


async def scalar_values(page: Page) -> dict[str, str]:
    rows = page.locator("#scalars tbody tr")
    names = await rows.locator("th").all_inner_texts()
    values = await rows.locator("td.num").all_inner_texts()
    return dict(zip(names, values, strict=True))


async def chart_points(page: Page) -> dict[str, str | None]:
    figures = page.locator("figure.chart")
    result: dict[str, str | None] = {}
    for figure in await figures.all():
        name = await figure.get_attribute("data-metric")
        result[str(name)] = await figure.locator("canvas").first.get_attribute("data-points")
    return result


async def test_a_recorded_step_is_listed_shown_charted_and_updated_live(
    stack: WebStack, browser: Browser, artifacts_dir: Path
) -> None:
    execution_id = new_execution_id("doc/slash")  # ids may hold "/": links must encode it
    stack.step(execution_id, STEP_FIRST, pipeline="web-pipeline", deployment="web-deployment")
    stack.wait_for(execution_id, lambda d: sum(x["length"] for x in d["lists"]) == 61)
    context = await browser.new_context(base_url=stack.api, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    # Sign in: pages redirect to the login form; a wrong token is refused.
    await page.goto("/")
    assert page.url == f"{stack.api}/login?next=%2F"
    assert await page.evaluate(A11Y_PROBLEMS) == []
    await page.fill("#token", "not-the-token-42")
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("That is not this API's token.")
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["stepmetrics_session"]["httpOnly"] is True
    assert cookies["stepmetrics_session"]["sameSite"] == "Strict"
    assert TOKEN not in cookies["stepmetrics_session"]["value"]

    # Executions list: the execution with its pipeline, deployment and counts; filters.
    row = page.locator(f'tr[data-execution-id="{execution_id}"]')
    await expect(row.locator("td")).to_have_text(
        ["web-pipeline", "web-deployment", TIME, TIME, "4", "4"]
    )
    await page.fill("#filter-pipeline", "no-such-pipeline")
    await page.click("form.filters button")
    await expect(page.locator("#status")).to_contain_text("No executions for pipeline")
    await page.fill("#filter-pipeline", "web-pipeline")
    await page.click("form.filters button")
    await expect(page.locator("#executions tbody tr")).to_have_count(1)
    await page.screenshot(path=str(artifacts_dir / "web-executions.png"))
    assert await page.evaluate(A11Y_PROBLEMS) == []

    # The Execution page: scalar values exactly, one drawn chart per list.
    await row.locator("th a").click()  # the execution link (pipeline and deployment link too)
    await page.wait_for_selector("main[data-state=ready]")
    await expect(page.locator("h1")).to_have_text(f"Execution {execution_id}")
    assert await page.evaluate(A11Y_PROBLEMS) == []
    assert await scalar_values(page) == {
        "accuracy": "0.1409",
        "diverged": "NaN",
        "loss": "0.3333333333333333",
        "overflow": "-Infinity",
    }
    assert await chart_points(page) == {
        "accuracy_list": "3", "grad_norm": "5", "logx": "49", "loss_list": "4",
    }  # fmt: skip
    line_pixels = {
        str(await figure.get_attribute("data-metric")): await figure.locator(
            "canvas"
        ).first.evaluate(COUNT_LINE_PIXELS)
        for figure in await page.locator("figure.chart").all()
    }
    # grad_norm's two finite values sit between non-finite ones: two dots, no line.
    assert line_pixels["grad_norm"] > 10
    assert min(line_pixels.values()) > 10
    assert line_pixels["logx"] > 300
    grad = page.locator('figure[data-metric="grad_norm"] canvas[data-points]')
    assert await grad.get_attribute("data-nonfinite") == "3"

    # Hover and keyboard read exact values.
    plot = page.locator('figure[data-metric="accuracy_list"] .plot')
    await plot.hover(position={"x": 69, "y": 120})
    await expect(plot.locator(".tooltip")).to_have_text("index 0: 0.89")
    logx = page.locator('figure[data-metric="logx"] .plot')
    await logx.focus()
    await page.keyboard.press("End")
    readout = page.locator('figure[data-metric="logx"] .readout')
    await expect(readout).to_have_text("logx, index 48: 3.8918202981106265")

    # The filter box narrows the charts by name.
    await page.get_by_label("Filter list metrics by name").fill("LOSS")
    await expect(page.locator('figure[data-metric="accuracy_list"]')).to_be_hidden()
    await expect(page.locator('figure[data-metric="loss_list"]')).to_be_visible()
    await expect(page.locator("#filter-count")).to_have_text("1 of 4 list metrics shown.")
    await page.get_by_label("Filter list metrics by name").fill("")
    await expect(page.locator("figure.chart")).to_have_count(4)
    await expect(page.locator('figure[data-metric="accuracy_list"]')).to_be_visible()

    # The CSV export link works with the session cookie.
    href = await page.locator("a[download]").first.get_attribute("href")
    csv = await context.request.get(str(href))
    assert csv.status == 200
    assert "0.1409" in await csv.text()
    assert "logx" in await csv.text()
    await page.screenshot(path=str(artifacts_dir / "web-execution.png"), full_page=True)

    # Live: a second step's values appear without a reload.
    await page.evaluate("window.notReloaded = true")
    stack.step(execution_id, STEP_MORE, pipeline="web-pipeline", deployment="web-deployment")
    loss = page.locator('#scalars tr[data-metric="loss"] td.num')
    await expect(loss).to_have_text("0.25", timeout=20_000)
    points = page.locator('figure[data-metric="loss_list"] canvas[data-points]')
    await expect(points).to_have_attribute("data-points", "6", timeout=20_000)
    assert await page.evaluate("window.notReloaded") is True
    await page.screenshot(path=str(artifacts_dir / "web-execution-live.png"), full_page=True)

    # Sign out clears the session; the token never appeared in a URL.
    await page.click("text=Sign out")
    await expect(page.locator("h1")).to_have_text("Sign in")
    await page.goto("/")
    assert "/login" in page.url
    assert all(TOKEN not in url for url in urls)
    await context.close()


async def test_an_execution_with_100_scalars_and_5_full_lists_loads_in_under_a_second(
    stack: WebStack, browser: Browser, artifacts_dir: Path
) -> None:
    execution_id = new_execution_id("big")
    stack.step(execution_id, STEP_BIG, pipeline="web-big", deployment="web-big-deployment")
    stack.wait_for(
        execution_id,
        lambda d: d["scalar_count"] == 100 and [x["length"] for x in d["lists"]] == [50_000] * 5,
        timeout=90,
    )
    page = await signed_in_page(browser, stack)
    timings, in_page = [], []
    for _ in range(3):
        start = time.perf_counter()
        await page.goto(f"/executions/{execution_id}")
        await page.wait_for_selector("main[data-state=ready]")
        timings.append(time.perf_counter() - start)
        in_page.append(int(str(await page.get_attribute("main", "data-ready-at"))) / 1000)
    values = await scalar_values(page)
    assert len(values) == 100
    assert values["metric_007"] == "1"
    assert values["metric_010"] == repr(10 / 7)
    assert await chart_points(page) == {f"curve_{j}": "50000" for j in range(5)}
    for canvas in await page.locator("figure.chart canvas[data-points]").all():
        assert await canvas.evaluate(COUNT_LINE_PIXELS) > 1000
        # Drawing one 50,000-point chart (what a resize costs) stays interactive.
        assert float(str(await canvas.get_attribute("data-draw-ms"))) < 50
    plot = page.locator('figure[data-metric="curve_0"] .plot')
    await plot.hover(position={"x": 400, "y": 100})
    await expect(plot.locator(".tooltip")).to_contain_text("index ")
    await page.screenshot(path=str(artifacts_dir / "web-big-execution.png"), full_page=True)
    print(
        "Execution page load (100 scalars, 5 x 50,000), wall:",
        [round(t, 3) for t in timings],
        "s; navigation start to charts drawn:",
        in_page,
        "s",
    )
    # Wall time includes the test driver; the page itself must also be quick.
    assert statistics.median(timings) < 1.0, timings
    assert statistics.median(in_page) < 1.0, in_page


async def test_the_chart_reduction_keeps_extremes_and_non_finite_values(
    stack: WebStack, browser: Browser
) -> None:
    page = await signed_in_page(browser, stack)
    await page.goto("/executions/none-such")
    await expect(page.locator("#status")).to_have_text("No execution none-such.")
    # The scripts are ES modules: none of their names is global; import the chart's.
    assert await page.evaluate("() => [typeof SM, typeof LineChart, typeof Chart]") == [
        "undefined", "undefined", "undefined",
    ]  # fmt: skip
    reduced = await page.evaluate(
        """async () => {
        const { reduce } = await import("/static/chart.js");
        const values = Float64Array.from([1, NaN, 3, Infinity, -Infinity, 2, 5, -7]);
        const r = reduce(values, 3);
        return [Array.from(r.lo), Array.from(r.hi), Array.from(r.flags)];
    }"""
    )
    # Columns [1, NaN] [3, inf, -inf] [2, 5, -7]; flags: 8 finite, 1 NaN, 2 +inf, 4 -inf.
    assert reduced == [[1, 3, -7], [1, 3, 5], [9, 14, 8]]


async def test_stepmetrics_demo_records_executions_a_newcomer_can_browse(
    stack: WebStack, browser: Browser, artifacts_dir: Path
) -> None:
    output = stack.run_demo(["--steps", "3000"])
    urls = dict(re.findall(r"^(demo-[\w-]+): (\S+) \(", output, re.MULTILINE))
    assert set(urls) == {"demo-metrics", "demo-list-metrics", "demo-training"}
    assert all(url.startswith(f"{stack.api}/executions/demo-") for url in urls.values())
    page = await signed_in_page(browser, stack)
    for pipeline in urls:
        await expect(page.locator("#executions tbody")).to_contain_text(pipeline)

    await page.goto(urls["demo-metrics"])
    await page.wait_for_selector("main[data-state=ready]")
    assert await scalar_values(page) == {"accuracy": "0.1409", "loss": "0.3333333333333333"}
    await page.goto(urls["demo-list-metrics"])
    await page.wait_for_selector("main[data-state=ready]")
    assert await chart_points(page) == {"accuracy_list": "3", "logx": "49", "loss_list": "4"}
    await page.goto(urls["demo-training"])
    await page.wait_for_selector("main[data-state=ready]")
    assert await chart_points(page) == {
        "grad_norm": "3000", "learning_rate": "3000", "train_loss": "3000", "val_loss": "30",
    }  # fmt: skip
    grad = page.locator('figure[data-metric="grad_norm"] canvas[data-points]')
    assert await grad.get_attribute("data-nonfinite") == "2"  # the inf and NaN steps
    await page.screenshot(path=str(artifacts_dir / "web-demo-training.png"), full_page=True)
