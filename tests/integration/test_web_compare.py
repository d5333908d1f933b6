"""The Compare page in headless Chromium against a real running stack: select
executions in the list, compare their scalars and list metrics, zoom, reset,
log scale, smoothing, filter, keyboard reading and live updates."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.support.browser import A11Y_PROBLEMS, signed_in_page
from tests.support.web_stack import TOKEN, WebStack

pytestmark = pytest.mark.browser

STEP = """
from stepmetrics.sdk import CraftAiSdk
k = {k}
sdk = CraftAiSdk()
sdk.record_metric_value("accuracy", 0.5 + k / 10)
sdk.record_metric_value("learning_rate", 0.001)
loss = [(k + 1) / (i + 1) for i in range({n})]
if k == 0:
    loss[1000] = 50.0
if k == 1:
    loss[1500] = float("nan")
sdk.record_list_metric_values("loss", loss)
sdk.record_list_metric_values("acc", [0.5 + k / 10 + i / 1000 for i in range(50)])
if k == 0:
    sdk.record_list_metric_values("only_first", [1.0, 2.0])
assert sdk.flush(30)
"""
STEP_MORE = """
from stepmetrics.sdk import CraftAiSdk
sdk = CraftAiSdk()
sdk.record_metric_value("accuracy", 0.99)
sdk.record_list_metric_values("loss", [0.001] * 500)
assert sdk.flush(30)
"""


def loss(k: int, i: int) -> float:
    if (k, i) == (0, 1000):
        return 50.0
    return (k + 1) / (i + 1)


async def record(stack: WebStack, kind: str) -> tuple[str, list[str]]:
    """Three executions of a new pipeline named after `kind`: (pipeline, ids)."""
    pipeline = f"web-{kind}-{uuid.uuid4().hex[:6]}"
    ids = [f"web-cmp-{k}-{uuid.uuid4().hex[:6]}" for k in range(3)]
    for k, execution_id in enumerate(ids):
        stack.step(execution_id, STEP.format(k=k, n=2000), pipeline=pipeline, deployment="d")
    for execution_id in ids:
        stack.wait_for(execution_id, lambda d: any(x["length"] == 2000 for x in d["lists"]))
    return pipeline, ids


async def select_and_compare(page: Page, pipeline: str, ids: list[str]) -> None:
    await page.goto(f"/?pipeline={pipeline}")
    compare = page.locator("#compare")
    await expect(page.locator("#executions tbody tr")).to_have_count(3)
    await expect(compare).to_be_disabled()
    for execution_id in ids:
        await page.get_by_label(f"Select {execution_id} to compare").check()
    await expect(compare).to_be_enabled()
    await expect(compare).to_have_text("Compare selected (3)")
    await compare.click()
    await page.wait_for_selector("main[data-state=ready]")


def chart(page: Page, name: str) -> tuple[Locator, Locator]:
    figure = page.locator(f'figure[data-metric="{name}"]')
    return figure.locator(".plot"), figure.locator(".plot canvas").first


async def drag_to_zoom(page: Page, plot: Locator, canvas: Locator) -> int:
    """Drag across 60 px of `plot` (2,000 values): the range is re-read, exact; its start."""
    await plot.scroll_into_view_if_needed()
    box = await plot.bounding_box()
    assert box is not None
    y = box["y"] + 100
    await page.mouse.move(box["x"] + 500, y)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 560, y, steps=4)
    await page.mouse.up()
    await expect(canvas).to_have_attribute("data-exact", "true")
    start, end = (
        int(str(await canvas.get_attribute("data-start"))),
        int(str(await canvas.get_attribute("data-end"))),
    )
    assert 0 < start < end <= 2000
    assert end - start < 200
    return start


async def expect_full_view(canvas: Locator) -> None:
    """The chart of `canvas` shows all 2,000 values again, reduced to buckets."""
    await expect(canvas).to_have_attribute("data-start", "0")
    await expect(canvas).to_have_attribute("data-end", "2000")
    await expect(canvas).to_have_attribute("data-exact", "false")


async def test_selected_executions_are_compared_zoomed_smoothed_filtered_and_live(
    stack: WebStack, browser: Browser, artifacts_dir: Path
) -> None:
    pipeline, ids = await record(stack, "compare")
    page = await signed_in_page(browser, stack)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await select_and_compare(page, pipeline, ids)
    assert page.url.startswith(f"{stack.api}/compare?e=")
    assert all(f"e={i}" in page.url for i in ids)
    assert await page.evaluate(A11Y_PROBLEMS) == []

    # Scalars side by side; the row that differs is highlighted and says so.
    accuracy = page.locator('#compare-scalars tr[data-metric="accuracy"]')
    await expect(accuracy.locator("td")).to_have_text(["0.5", "0.6", "0.7"])
    await expect(accuracy).to_have_attribute("data-differs", "true")
    await expect(accuracy.locator("th")).to_contain_text("(differs)")
    rate = page.locator('#compare-scalars tr[data-metric="learning_rate"]')
    await expect(rate).to_have_attribute("data-differs", "false")

    # One chart per shared list, one line (and legend entry) per execution.
    names = [await f.get_attribute("data-metric") for f in await page.locator("figure").all()]
    assert names == ["acc", "loss"]  # in the API's order (by name)
    await expect(page.locator("#not-shared")).to_have_text(
        "Not shown (not every execution has them): only_first."
    )
    plot, canvas = chart(page, "loss")
    await expect(page.locator('figure[data-metric="loss"] .legend li')).to_have_count(3)
    assert await canvas.get_attribute("data-lines") == "3"
    assert await canvas.get_attribute("data-exact") == "false"  # 2,000 values, ~1,000 px
    buckets = [int(b) for b in str(await canvas.get_attribute("data-buckets")).split(",")]
    assert len(set(buckets)) == 1
    assert 500 < buckets[0] < 2000
    await plot.hover(position={"x": 300, "y": 100})
    tip = plot.locator(".tooltip")
    for execution_id in ids:
        await expect(tip).to_contain_text(execution_id + ": ")
    # The spike of execution 0 at index 1,000 is kept by its bucket (min, max, last).
    box = await plot.bounding_box()
    assert box is not None
    await plot.hover(position={"x": 68 + 1000 / 1999 * (box["width"] - 82), "y": 100})
    await expect(tip).to_contain_text(
        re.compile(rf"{ids[0]}: (50(?![.\d])|[0-9.e-]+ \(min [0-9.e-]+, max 50\) over)")
    )
    readout = page.locator('figure[data-metric="loss"] .readout')
    await page.screenshot(path=str(artifacts_dir / "web-compare.png"), full_page=True)

    # Drag to zoom: the range is re-read and, now narrower than the chart, exact.
    start = await drag_to_zoom(page, plot, canvas)
    await plot.focus()
    await page.keyboard.press("Home")
    await expect(readout).to_contain_text(f"index {start:,}")
    for k, execution_id in enumerate(ids):
        await expect(readout).to_contain_text(f"{execution_id}: {loss(k, start)!r}")
    await page.screenshot(path=str(artifacts_dir / "web-compare-zoomed.png"), full_page=True)
    # Double-click resets the zoom.
    await plot.dblclick()
    await expect_full_view(canvas)

    # Log scale and smoothing apply to every chart.
    await page.get_by_label("Logarithmic y axis").check()
    await expect(canvas).to_have_attribute("data-log", "true")
    await page.locator("#smoothing").fill("0.9")
    await expect(canvas).to_have_attribute("data-smoothing", "0.9")
    await expect(page.locator("#smoothing-value")).to_have_text("0.9")
    await page.screenshot(path=str(artifacts_dir / "web-compare-log-smooth.png"), full_page=True)

    # The filter box narrows the charts by name.
    await page.get_by_label("Filter metrics by name").fill("ac")
    await expect(page.locator('figure[data-metric="loss"]')).to_be_hidden()
    await expect(page.locator('figure[data-metric="acc"]')).to_be_visible()
    await expect(page.locator("#filter-count")).to_have_text("1 of 2 list metrics shown.")
    await page.get_by_label("Filter metrics by name").fill("")

    # Live: new values of one execution appear without a reload.
    await page.evaluate("window.notReloaded = true")
    stack.step(ids[1], STEP_MORE, pipeline=pipeline, deployment="d")
    await expect(accuracy.locator("td")).to_have_text(["0.5", "0.99", "0.7"], timeout=20_000)
    await expect(canvas).to_have_attribute("data-end", "2500", timeout=20_000)
    assert await page.evaluate("window.notReloaded") is True
    assert all(TOKEN not in url for url in urls)
    assert not any("/api/web/list-values" in url for url in urls)  # buckets only


async def test_a_selection_outside_2_to_10_is_refused_clearly(
    stack: WebStack, browser: Browser
) -> None:
    page = await signed_in_page(browser, stack)
    await page.goto("/compare?e=only-one")
    await expect(page.locator("#status")).to_have_text(
        "Choose 2 to 10 executions to compare (got 1)."
    )


async def test_a_pipeline_page_sorts_its_runs_charts_a_trend_and_compares(
    stack: WebStack, browser: Browser, artifacts_dir: Path
) -> None:
    pipeline, ids = await record(stack, "runs")
    page = await signed_in_page(browser, stack)
    await page.goto(f"/?pipeline={pipeline}")
    await page.locator(f'tr[data-execution-id="{ids[0]}"] a', has_text=pipeline).click()
    await page.wait_for_selector("main[data-state=ready]")
    assert page.url == f"{stack.api}/pipelines/{pipeline}"
    assert await page.evaluate(A11Y_PROBLEMS) == []
    rows = page.locator("#runs tbody tr")

    async def order() -> list[str | None]:
        return [await row.get_attribute("data-execution-id") for row in await rows.all()]

    assert await order() == ids[::-1]  # newest first
    await expect(page.locator("#runs thead th")).to_have_text(
        ["Execution", "Created at (UTC)", "accuracy", "learning_rate"]
    )
    await expect(rows.first.locator("td.num")).to_have_text(["0.7", "0.001"])
    sort = page.locator('#runs button.sort[data-key="accuracy"]')
    await sort.click()  # highest first
    assert await order() == ids[::-1]
    await sort.click()  # lowest first
    assert await order() == ids
    await expect(page.locator("#runs thead th").nth(2)).to_have_attribute("aria-sort", "ascending")

    # The trend of the chosen metric across the runs, oldest first.
    trend = page.locator("#trend figure")
    await expect(trend).to_have_attribute("data-metric", "accuracy")
    await expect(trend.locator("canvas").first).to_have_attribute("data-points", "3")
    await trend.locator(".plot").focus()
    await page.keyboard.press("End")
    await expect(trend.locator(".readout")).to_contain_text(f"accuracy, {ids[2]} (")
    await expect(trend.locator(".readout")).to_contain_text("): 0.7")

    # The trend zooms over the run index (drag), resets, has a log scale and smoothing.
    plot, canvas = trend.locator(".plot"), trend.locator("canvas").first
    await expect(canvas).to_have_attribute("data-end", "3")
    box = await plot.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + 66, box["y"] + 100)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 68 + (box["width"] - 82) / 2 + 2, box["y"] + 100, steps=4)
    await page.mouse.up()
    await expect(canvas).to_have_attribute("data-end", "2")  # runs 0 and 1
    await expect(canvas).to_have_attribute("data-start", "0")
    await plot.focus()
    await page.keyboard.press("End")
    await expect(trend.locator(".readout")).to_contain_text(f"accuracy, {ids[1]} (")
    await expect(trend.locator(".readout")).to_contain_text("): 0.6")
    await plot.dblclick()
    await expect(canvas).to_have_attribute("data-end", "3")
    await page.get_by_label("Logarithmic y axis").check()
    await expect(canvas).to_have_attribute("data-log", "true")
    await expect(plot).to_have_attribute("aria-label", re.compile(r"log scale"))
    await page.locator("#smoothing").fill("0.5")
    await expect(canvas).to_have_attribute("data-smoothing", "0.5")
    await plot.focus()
    await page.keyboard.press("End")
    await expect(trend.locator(".readout")).to_contain_text("): 0.7")  # raw value
    await page.get_by_label("Metric of the trend").select_option("learning_rate")
    await expect(trend).to_have_attribute("data-metric", "learning_rate")
    await page.screenshot(path=str(artifacts_dir / "web-pipeline-runs.png"), full_page=True)

    # Select two runs here and compare them.
    for execution_id in ids[:2]:
        await page.get_by_label(f"Select {execution_id} to compare").check()
    await page.locator("#compare").click()
    await page.wait_for_selector("main[data-state=ready]")
    await expect(page.locator("#compared tbody tr")).to_have_count(2)


async def test_the_execution_page_charts_zoom_reset_use_a_log_scale_and_smooth(
    stack: WebStack, browser: Browser, artifacts_dir: Path
) -> None:
    execution_id = f"web-one-{uuid.uuid4().hex[:6]}"
    stack.step(execution_id, STEP.format(k=0, n=2000), pipeline="web-one", deployment="d")
    stack.wait_for(execution_id, lambda d: any(x["length"] == 2000 for x in d["lists"]))
    page = await signed_in_page(browser, stack)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await page.goto(f"/executions/{execution_id}")
    await page.wait_for_selector("main[data-state=ready]")
    assert await page.evaluate(A11Y_PROBLEMS) == []
    plot, canvas = chart(page, "loss")
    assert await canvas.get_attribute("data-points") == "2000"
    assert await canvas.get_attribute("data-exact") == "false"  # 2,000 values, ~1,000 px
    readout = page.locator('figure[data-metric="loss"] .readout')

    # Drag to zoom: the range is re-read from the buckets endpoint and is exact.
    start = await drag_to_zoom(page, plot, canvas)
    await plot.focus()
    await page.keyboard.press("Home")
    await expect(readout).to_have_text(f"loss, index {start:,}: {loss(0, start)!r}")
    await page.keyboard.press("ArrowRight")
    await expect(readout).to_have_text(f"loss, index {start + 1:,}: {loss(0, start + 1)!r}")
    await page.screenshot(path=str(artifacts_dir / "web-execution-zoomed.png"), full_page=True)
    # Double-click resets; so does the "Reset zoom" button after a keyboard zoom.
    await plot.dblclick()
    await expect_full_view(canvas)
    await plot.focus()
    await page.keyboard.press("+")
    await expect(canvas).not_to_have_attribute("data-end", "2000")
    await page.get_by_role("button", name="Reset the zoom of loss").click()
    await expect_full_view(canvas)

    # Log scale and smoothing redraw every chart; the readout keeps raw values.
    image = "c => c.toDataURL()"
    linear = await canvas.evaluate(image)
    await page.get_by_label("Logarithmic y axis").check()
    await expect(canvas).to_have_attribute("data-log", "true")
    await expect(plot).to_have_attribute("aria-label", re.compile(r"log scale"))
    logarithmic = await canvas.evaluate(image)
    assert logarithmic != linear
    await page.locator("#smoothing").fill("0.9")
    await expect(page.locator("#smoothing-value")).to_have_text("0.9")
    for name in ("loss", "acc"):
        await expect(chart(page, name)[1]).to_have_attribute("data-smoothing", "0.9")
    assert await canvas.evaluate(image) != logarithmic
    acc_plot, acc = chart(page, "acc")
    assert await acc.get_attribute("data-exact") == "true"  # 50 values
    await acc_plot.focus()
    await page.keyboard.press("End")
    await expect(page.locator('figure[data-metric="acc"] .readout')).to_have_text(
        f"acc, index 49: {0.5 + 49 / 1000!r}"
    )
    await page.screenshot(path=str(artifacts_dir / "web-execution-log-smooth.png"), full_page=True)
    assert any("/api/v1/list-buckets" in url for url in urls)
    assert not any("/api/web/list-values" in url for url in urls)  # buckets only


async def test_a_pipeline_page_shows_new_runs_and_values_live(
    stack: WebStack, browser: Browser, artifacts_dir: Path
) -> None:
    pipeline, ids = await record(stack, "live")
    page = await signed_in_page(browser, stack)
    await page.goto(f"/pipelines/{pipeline}")
    await page.wait_for_selector("main[data-state=ready]")
    rows = page.locator("#runs tbody tr")
    await expect(rows).to_have_count(3)
    trend = page.locator("#trend figure")
    await expect(trend.locator("canvas").first).to_have_attribute("data-points", "3")
    await page.evaluate("window.notReloaded = true")

    # A new value of a run, and a new run, appear without a reload.
    stack.step(ids[1], STEP_MORE, pipeline=pipeline, deployment="d")
    changed = page.locator(f'#runs tr[data-execution-id="{ids[1]}"] td.num')
    await expect(changed).to_have_text(["0.99", "0.001"], timeout=20_000)
    newest = f"web-cmp-3-{uuid.uuid4().hex[:6]}"
    stack.step(newest, STEP.format(k=3, n=10), pipeline=pipeline, deployment="d")
    await expect(rows).to_have_count(4, timeout=20_000)
    assert await rows.first.get_attribute("data-execution-id") == newest  # newest first
    await expect(rows.first.locator("td.num")).to_have_text(["0.8", "0.001"])
    await expect(trend.locator("canvas").first).to_have_attribute("data-points", "4")
    await trend.locator(".plot").focus()
    await page.keyboard.press("End")
    await expect(trend.locator(".readout")).to_contain_text(f"accuracy, {newest} (")
    await expect(trend.locator(".readout")).to_contain_text("): 0.8")
    assert await page.evaluate("window.notReloaded") is True
    await page.screenshot(path=str(artifacts_dir / "web-pipeline-live.png"), full_page=True)
