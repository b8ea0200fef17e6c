"""A CPO's own export in its own language, imported in a real browser: mapped with no hand step, the reason
for each column shown, the map fitted to the stations and the one with swapped coordinates listed beside it;
a corrected file uploaded over it keeps its own suggestion when a column is then chosen by hand.
Screenshots go to test-artifacts/e2e/ (import_language_*.png).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ROOT, Product
from tests.e2e.test_journey import SLOW, choose, field, open_page, settle, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

SHEETS = ROOT / "tests" / "data" / "sheets"
CPO = "Ricarica Italia"


def _swapped_copy(tmp_path: Path) -> Path:
    """The Italian workbook with Porta Nuova's latitude and longitude exchanged (7.6787, 45.0625)."""
    source = SHEETS / "stazioni_it.xlsx"
    target = tmp_path / "stazioni_it_scambiate.xlsx"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for member in old.namelist():
            data = old.read(member)
            if member == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<v>45.0625</v><", b"<v>x</v><").replace(b"<v>7.6787</v>", b"<v>45.0625</v>")
                data = data.replace(b"<v>x</v>", b"<v>7.6787</v>")
            new.writestr(member, data)
    return target


def _dots(path: Path) -> tuple[int, int, int, int, int]:
    """Pixels of the stations' blue in a map screenshot (drawn at 85 % opacity, so blended with the base map;
    nothing else on it is that blue): how many, and their box (left, top, right, bottom)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    ys, xs = np.nonzero((pixels[:, :, 0] < 100) & (pixels[:, :, 2] - pixels[:, :, 0] > 80))
    return (len(xs), *(int(v) for v in (xs.min(), ys.min(), xs.max(), ys.max()))) if len(xs) else (0, 0, 0, 0, 0)


def _upload(page: Page, path: Path) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    settle(page)


def _mapping_box(page: Page, label: str) -> Locator:
    return page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).first


def test_an_italian_export_maps_itself_says_why_and_the_map_is_fitted(product: Product, page: Page, tmp_path):
    subprocess.run([sys.executable, "-m", "oioi_onboard.cli", "cpo", "add", "--name", CPO, "--operator-id", "IT*RIC"],
                   env=product.env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    page.goto(product.app_url)
    field(page, "User name").fill("admin")
    field(page, "Password").fill(product.admin_password)
    page.get_by_role("button", name="Sign in").click()
    settle(page)
    main = open_page(page, "2 · Import stations")
    choose(page, "CPO", CPO)

    # --- the export maps itself: no error, every field with its reason ----------------------------------
    _upload(page, SHEETS / "stazioni_it.xlsx")
    metrics = main.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Errors")).to_contain_text("0", timeout=SLOW)
    expect(metrics.filter(has_text="Stations").first).to_contain_text("3")
    expect(metrics.filter(has_text="Connectors")).to_contain_text("5")
    expect(main.get_by_text("No column of the file holds station ids")).to_have_count(0)
    expander = main.locator('[data-testid="stExpander"]').filter(has_text="Which column holds which field")
    expander.get_by_text("Which column holds which field").click()
    settle(page)
    for reason in ("values look like EVSE ids, 5/5", "values look like plug names, 5/5",
                   "values look like station codes, one per station", "the points land in IT"):
        expect(expander.get_by_text(reason).first).to_be_visible(timeout=SLOW)
    shot(page, "import_language_1_mapping_reasons", expander)

    deck = main.locator('[data-testid="stDeckGlJsonChart"]')
    expect(deck.locator("canvas").first).to_be_attached(timeout=SLOW)
    page.wait_for_timeout(2500)  # the base map and the points draw
    count, left, top, right, bottom = _dots(shot(page, "import_language_2_map_fitted", deck))
    box = deck.bounding_box()
    assert count > 0, "no station drawn"
    # Milan's two stations and Turin's, all inside the frame, not at its edges, and not a dot in a corner.
    assert 10 < left and right < box["width"] - 10 and 10 < top and bottom < box["height"] - 10, (left, top, right,
                                                                                                   bottom, box)
    assert right - left > box["width"] / 4, "the view is not fitted to the stations"

    # --- one station's coordinates swapped: not drawn, listed beside the map --------------------------------
    _upload(page, _swapped_copy(tmp_path))
    expect(main.get_by_text("1 station not on the map")).to_be_visible(timeout=SLOW)
    listed = main.locator('[data-testid="stDataFrame"]').filter(has_text="TO-001")
    expect(listed.first).to_be_attached(timeout=SLOW)
    page.wait_for_timeout(2500)
    beside = main.locator('[data-testid="stHorizontalBlock"]').filter(
        has=page.locator('[data-testid="stDeckGlJsonChart"]')).last
    shot(page, "import_language_3_out_of_range_listed", beside)
    count, left, top, right, bottom = _dots(shot(page, "import_language_4_map_without_it", deck))
    box = deck.bounding_box()
    assert count > 0 and 10 < left and right < box["width"] - 10 and 10 < top and bottom < box["height"] - 10

    # --- the corrected file over it: a column chosen by hand changes only its own field ----------------------
    _upload(page, SHEETS / "stazioni_it.xlsx")
    expect(main.get_by_text("not on the map: their position")).to_have_count(0, timeout=SLOW)
    if not _mapping_box(page, "notes").is_visible():
        expander.get_by_text("Which column holds which field").click()
        settle(page)
    box = _mapping_box(page, "notes")
    box.click()
    page.keyboard.type("Indirizzo")
    page.get_by_role("option", name="Indirizzo", exact=True).click()
    settle(page)
    for label, column in (("station_name *", "Nome"), ("latitude *", "Latitudine"), ("evse_id *", "EVSE ID"),
                          ("phone *", "Telefono"), ("notes", "Indirizzo")):
        expect(_mapping_box(page, label).locator("input")).to_have_value(column, timeout=SLOW)
    expect(metrics.filter(has_text="Errors")).to_contain_text("0", timeout=SLOW)
    shot(page, "import_language_5_after_a_hand_choice", expander)
