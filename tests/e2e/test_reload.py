"""A browser reload keeps the person signed in and the import in progress; signing out ends both. A page opened
from its address (a new browser session) starts on the CPO chosen last, and says whose file is on screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, Product
from tests.e2e.test_journey import DEMO_CPO, DEMO_OCPI_CPO, SLOW, choose, field, open_page, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

DEMO = ROOT / "sample_data" / "demo_network.csv"


def test_reload_keeps_the_session_and_the_import(product: Product, page: Page):
    page.goto(product.app_url)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    field(page, "User name").fill("admin")
    field(page, "Password").fill(product.admin_password)
    page.get_by_role("button", name="Sign in").click()
    settle(page)
    expect(page.get_by_text("Signed in as").first).to_be_visible(timeout=SLOW)
    shot(page, "signed_in")
    main = open_page(page, "2 · Import stations")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(DEMO))
    settle(page)
    expect(main.get_by_text("demo_network.csv").first).to_be_visible(timeout=SLOW)

    page.reload()
    settle(page)
    expect(page.get_by_text("Signed in as").first).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("Working on demo_network.csv, uploaded earlier").first).to_be_visible(timeout=SLOW)
    expect(main.get_by_text("Stations", exact=True).first).to_be_visible(timeout=SLOW)
    shot(page, "reload_keeps_import")

    # The other CPO chosen on the push page, then the import page typed into the address bar: a new session.
    main = open_page(page, "3 · Push", "Push stations")
    choose(page, "CPO", DEMO_OCPI_CPO)
    page.goto(page.url.rsplit("/", 1)[0] + "/import_stations")
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text(f"Onboarding of {DEMO_OCPI_CPO}").first).to_be_visible(timeout=SLOW)
    expect(main.get_by_text(f"demo_network.csv was uploaded for {DEMO_CPO}; it is checked here for the CPO "
                            "chosen above").first).to_be_visible(timeout=SLOW)
    shot(page, "new_session_names_whose_file")

    page.get_by_role("button", name="Sign out").click()
    settle(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    page.reload()
    settle(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)

