"""The Execution page's Delete button in Debian's headless Chromium against a
real running stack (worker and API processes, the SDK recording into the broker)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.support.browser import A11Y_PROBLEMS, sign_in, signed_in_page
from tests.support.web_stack import ADMIN_TOKEN, TOKEN, WebStack

pytestmark = pytest.mark.browser

STEP = """
from stepmetrics.sdk import CraftAiSdk
sdk = CraftAiSdk()
sdk.record_metric_value("accuracy", 0.5)
sdk.record_list_metric_values("loss", [1.0, 0.5])
assert sdk.flush(30)
"""


def recorded(stack: WebStack) -> str:
    execution_id = f"web-delete-{uuid.uuid4().hex[:8]}"
    stack.step(execution_id, STEP, pipeline="delete-pipe", deployment="delete-dep")
    stack.wait_for(execution_id, lambda doc: len(doc["lists"]) == 1)
    return execution_id


def api_status(stack: WebStack, execution_id: str) -> int:
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=stack.api, headers=headers, trust_env=False) as client:
        return client.get(f"/api/v1/executions/{execution_id}").status_code


async def test_a_read_session_sees_no_delete_button(browser: Browser, stack: WebStack) -> None:
    execution_id = recorded(stack)
    page = await signed_in_page(browser, stack)
    await page.goto(f"/executions/{execution_id}")
    await expect(page.locator("#main")).to_have_attribute("data-state", "ready")
    await expect(page.locator("#delete-section")).to_be_hidden()
    await page.context.close()


async def test_an_admin_deletes_after_confirming(browser: Browser, stack: WebStack) -> None:
    execution_id = recorded(stack)
    page = await sign_in(browser, stack.api, ADMIN_TOKEN)
    await page.goto(f"/executions/{execution_id}")
    await expect(page.locator("#main")).to_have_attribute("data-state", "ready")
    assert await page.evaluate(A11Y_PROBLEMS) == []

    # The first button only opens the confirmation step; Cancel closes it.
    await page.get_by_role("button", name="Delete execution…").click()
    await expect(page.locator("#delete-confirm")).to_be_visible()
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#delete-confirm")).to_be_hidden()
    assert api_status(stack, execution_id) == 200

    await page.get_by_role("button", name="Delete execution…").click()
    await page.get_by_role("button", name="Delete permanently").click()

    await expect(page.locator("h1")).to_have_text("Executions")
    assert api_status(stack, execution_id) == 404
    await expect(page.locator("#main")).not_to_contain_text(execution_id)
    await page.context.close()
