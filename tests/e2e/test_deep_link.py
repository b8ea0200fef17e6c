"""A page's address opened signed out (a bookmark, a link in a mail) as the first visit of a new server: the sign-in
form, then that page in the app's own navigation. With the pages in a ``pages/`` folder Streamlit ran the page's
script by itself there: no navigation, no account sidebar, the narrow layout."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Product
from tests.e2e.test_journey import SLOW, field, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _sign_in_at(page: Page, product: Product, path: str) -> None:
    """Open ``path`` signed out: the sign-in form, with no "Page not found"; sign in there."""
    page.goto(product.app_url.rstrip("/") + path)
    settle(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    field(page, "User name").fill("admin")
    field(page, "Password").fill(product.admin_password)
    page.get_by_role("button", name="Sign in").click()
    settle(page)


def test_a_pages_address_signs_in_and_opens_that_page_on_a_new_server(product: Product, page: Page):
    _sign_in_at(page, product, "/push")  # this module's server has had no visitor yet
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name="Push stations").first).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Signed in as").first).to_be_visible(timeout=SLOW)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("3 · Push")).to_be_visible(timeout=SLOW)
    expect(sidebar.get_by_text("main", exact=True)).to_have_count(0)  # no listing of script files
    assert page.url.rstrip("/").endswith("/push")
    shot(page, "deep_link_after_sign_in")


def test_the_overviews_address_signs_in_without_page_not_found(product: Product, page: Page):
    """The overview is the signed-in default page, whose address is the root: its own was unknown signed out."""
    _sign_in_at(page, product, "/overview")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name="Overview").first).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Page not found")).to_have_count(0)
