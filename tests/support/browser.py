"""TEST-ONLY: driving Debian's headless Chromium (playwright) against a `WebStack`."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.support.web_stack import TOKEN, WebStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Accessibility basics a page must meet: every control has a label or a name,
# one h1, headings never skip a level, the document has a language.
A11Y_PROBLEMS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!el.labels.length && !el.getAttribute("aria-label")) problems.push("unlabelled " + el.id);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push("unnamed control");
  }
  for (const el of document.querySelectorAll("[role=group]")) {
    if (!el.getAttribute("aria-label")) problems.push("unnamed chart");
  }
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  let level = 1;
  for (const h of document.querySelectorAll("h1, h2, h3, h4")) {
    const next = Number(h.tagName[1]);
    if (next > level + 1) problems.push("heading skips to " + h.tagName);
    level = next;
  }
  if (!document.documentElement.lang) problems.push("no lang");
  return problems;
}"""


async def sign_in(browser: Browser, base_url: str, token: str) -> Page:
    """A new page of a fresh browser context, signed in to the stack at `base_url`."""
    context = await browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto("/")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Executions")
    return page


async def signed_in_page(browser: Browser, stack: WebStack) -> Page:
    return await sign_in(browser, stack.api, TOKEN)
