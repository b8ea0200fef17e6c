"""The whole journey of a person in a real browser, against the product as `make run` starts it.

A first-time user led by the onboarding steps alone: sign in, register a CPO,
test its connection, follow the steps' buttons to the import (the demo network
under the new CPO's operator id, one broken cell fixed in the data editor, the
map over the offline base map, accept), to the push (to the sandbox), and to
the live map filtered to that CPO; statuses posted through the relay arrive,
a status set in the UI shows as delivered within seconds, and the station view
shows the exact connector-post-status sent and its answer. The second demo CPO,
"Demo OCPI CPO", got its stations from its OCPI back end (the simulator) with no
file, and its live statuses by OCPI PATCHes: the overview leads to its live map,
where the changes and the station view say they came from ``ocpi``. The machine has no
internet: the maps show the shipped boundary layer. Screenshots of every step
go to test-artifacts/e2e/.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ARTIFACTS, ROOT, Product

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

DEMO = ROOT / "sample_data" / "demo_network.csv"
DEMO_CPO = "Demo CPO"
DEMO_OCPI_CPO = "Demo OCPI CPO"
DEMO_OCPI_OPERATOR = "BE*OCS"  # the OCPI simulator's party
NEW_CPO = "Stadtwerke E2E"
NEW_CPO_KEY = "e2e-secret-api-key-9876"
NEW_OPERATOR = "DE*E2E"
SEA, LAND = (222, 233, 242), (246, 244, 239)  # the offline base map's colours (app/components/basemap.py)
OFFLINE = (213, 94, 0)  # the live map's colour of a station with an Offline connector
SLOW = 120_000  # ms: a rerun on 2 shared cores under a full test run can take a while


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the rerun the last action started."""
    page.wait_for_timeout(400)  # the rerun request leaves the browser after a short debounce
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=SLOW)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=SLOW)
    crash = page.locator('[data-testid="stException"]')
    if crash.count():
        shot(page, "exception")
        raise AssertionError(f"the page shows an exception to the user:\n{crash.first.inner_text()}")


def shot(page: Page, name: str, element: Locator | None = None) -> Path:
    path = ARTIFACTS / f"{name}.png"
    if element is not None:
        element.scroll_into_view_if_needed()
        element.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path))
    return path


def field(scope: Page | Locator, label: str) -> Locator:
    """A text or password input by its label (password inputs have no textbox role)."""
    return scope.locator(f'input[aria-label="{label}"]')


def enter(page: Page, scope: Page | Locator, label: str, value: str) -> None:
    box = field(scope, label)
    box.fill(value)
    box.press("Enter")  # commits the value; Streamlit reruns
    settle(page)


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def open_page(page: Page, link: str, heading: str | None = None) -> Locator:
    page.get_by_role("link", name=link).click()
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name=heading or link).first).to_be_visible(timeout=SLOW)
    return main


def broken_demo_network(tmp_path: Path) -> tuple[Path, str]:
    """The demo network under the new CPO's operator id, with one bad cell: the first connector's speed reads
    "fast"."""
    lines = DEMO.read_text(encoding="utf-8").replace("DE*DMO", NEW_OPERATOR).splitlines(keepends=True)
    first = lines[1].rstrip("\r\n")
    assert first.endswith(",22"), first
    speed_column = lines[0].rstrip("\r\n").split(",").index("speed_kw")
    lines[1] = first[: -len("22")] + "fast\n"
    path = tmp_path / "demo_network_one_broken_cell.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path, str(speed_column)


def edit_cell(page: Page, editor: Locator, *, row: int, column: int, value: str) -> None:
    """Type into one cell of st.data_editor (a canvas grid) with the keyboard, as a person would."""
    editor.scroll_into_view_if_needed()
    grid = editor.locator(".dvn-scroller")
    grid.click(position={"x": 40, "y": 36 + 35 * row + 17})  # the first cell of the row
    for _ in range(column):
        page.keyboard.press("ArrowRight")  # the grid scrolls along
    page.keyboard.press("Enter")  # opens the cell's editor
    text = page.locator("#portal textarea").last
    text.wait_for()
    text.fill(value)
    text.press("Enter")
    # The grid's first column holds the boxes that select rows to delete (num_rows="delete").
    cell = editor.locator(f'[data-testid="glide-cell-{column + 1}-{row}"]')
    expect(cell).to_have_text(value)
    page.wait_for_timeout(1500)  # the editor sends its edits after a short debounce
    settle(page)


def watch_status_widget(page: Page) -> None:
    """Remember in the page whether Streamlit's status widget ("Running...") ever appears."""
    page.evaluate("""() => {
        window.__statusWidgetSeen = false;
        const look = () => { if (document.querySelector('[data-testid="stStatusWidget"]')) {
            window.__statusWidgetSeen = true; } };
        new MutationObserver(look).observe(document.body, {childList: true, subtree: true});
    }""")


def steps_button(main: Locator, label: str) -> Locator:
    """The button of the onboarding steps at the top of a page that opens the next step."""
    return main.locator('[class*="st-key-steps_"]').get_by_role("button", name=label)


def test_the_whole_journey(product: Product, page: Page, tmp_path):
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    # --- sign in: the overview says what comes next for each CPO ------------------------------
    page.goto(product.app_url)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    shot(page, "01_sign_in")
    field(page, "User name").fill("admin")
    field(page, "Password").fill(product.admin_password)
    page.get_by_role("button", name="Sign in").click()
    settle(page)
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=SLOW)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("button", name=f"Push the stations · {DEMO_CPO} →")).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stToolbar"]')).to_be_attached()  # the top bar, where "Running..." shows
    watch_status_widget(page)
    shot(page, "02_overview")

    # --- register a CPO and test its connection -------------------------------------------------
    main = open_page(page, "1 · CPOs")
    form = main.locator('[data-testid="stExpander"]').filter(has_text="Register a CPO")
    enter(page, form, "CPO name", NEW_CPO)
    enter(page, form, "Operator ids", NEW_OPERATOR)
    # Left with Tab, onto the password field's show/hide toggle: the key must still go with the form.
    field(form, "API key").fill(NEW_CPO_KEY)
    field(form, "API key").press("Tab")
    form.get_by_role("button", name="Register CPO").click()
    settle(page)
    expect(main.get_by_text(f"Registered {NEW_CPO}")).to_be_visible(timeout=SLOW)
    expect(main.get_by_text("API key: ••••9876")).to_be_visible()
    assert NEW_CPO_KEY not in page.content()  # the key is never shown back, only its last four characters
    expect(main.get_by_text(f"Onboarding of {NEW_CPO}")).to_be_visible()
    shot(page, "03_cpo_registered")
    main.get_by_role("button", name="Test connection").click()
    settle(page)
    expect(main.get_by_text("Next: import stations.")).to_be_visible(timeout=SLOW)
    shot(page, "03b_connection_tested")

    # --- the steps lead to the import: one broken cell, fixed; the map; accept ------------------
    steps_button(main, "Import stations →").click()
    settle(page)
    expect(main.get_by_role("heading", name="2 · Import stations").first).to_be_visible(timeout=SLOW)
    expect(main.get_by_role("combobox", name="CPO", exact=True)).to_have_value(NEW_CPO)  # chosen by the step
    expect(main.get_by_text(f"Onboarding of {NEW_CPO}")).to_be_visible()
    broken, speed_column = broken_demo_network(tmp_path)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(broken))
    settle(page)
    metrics = main.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Errors")).to_contain_text("1", timeout=SLOW)
    expect(metrics.filter(has_text="Stations blocked")).to_contain_text("1")
    expect(metrics.filter(has_text="Stations").first).to_contain_text("280")
    shot(page, "04_import_one_error", main.locator('[data-testid="stDataFrame"]').first)

    editor = main.locator('[data-testid="stDataFrame"]').nth(1)  # the issue table comes first
    edit_cell(page, editor, row=0, column=int(speed_column), value="22")
    shot(page, "05_cell_fixed", editor)
    main.get_by_role("button", name="Revalidate the edited cells", exact=True).click()
    settle(page)
    expect(main.get_by_text("No problems found.")).to_be_visible(timeout=SLOW)
    expect(metrics.filter(has_text="Errors")).to_contain_text("0")
    fixes_note = main.get_by_text("Counted with your 1 fix made on")  # the counts are of the file as fixed
    expect(fixes_note).to_be_visible(timeout=SLOW)
    expect(main.get_by_role("button", name="Undo my fixes")).to_be_visible()
    fixes_note.scroll_into_view_if_needed()
    shot(page, "05b_revalidated_with_the_fix_said")

    deck = main.locator('[data-testid="stDeckGlJsonChart"]')
    expect(deck.locator("canvas").first).to_be_attached(timeout=SLOW)
    page.wait_for_timeout(2000)  # let the base map and the points draw for the screenshot
    import_map = shot(page, "06_map_preview", deck)

    main.get_by_role("button", name="Accept 280 valid stations").click()
    settle(page)
    expect(main.get_by_text("Stored 280 stations")).to_be_visible(timeout=SLOW)
    expect(main.get_by_text("Next: push stations.")).to_be_visible(timeout=SLOW)
    shot(page, "07_accepted")

    # --- the steps lead to the push ----------------------------------------------------------
    steps_button(main, "Push the stations →").click()
    settle(page)
    expect(main.get_by_role("heading", name="Push stations").first).to_be_visible(timeout=SLOW)
    expect(main.locator('[data-testid="stMetric"]').filter(has_text="New")).to_contain_text("280", timeout=SLOW)
    main.get_by_role("button", name="Push", exact=True).click()
    settle(page)
    expect(main.get_by_text("finished: every request acknowledged")).to_be_visible(timeout=300_000)
    expect(main.get_by_text("Next: statuses live.")).to_be_visible(timeout=SLOW)
    shot(page, "08_pushed")
    stats = product.sandbox_stats()
    accepts = {station: n for station, n in stats["station_accepts"].items() if station.startswith(NEW_OPERATOR)}
    assert len(accepts) == 280 and set(accepts.values()) == {1}, stats["station-post"]
    assert page.evaluate("window.__statusWidgetSeen"), "the status widget never showed during the reruns"

    # --- statuses through the relay, watched on the live map the steps open -------------------
    steps_button(main, "Watch statuses arrive →").click()
    settle(page)
    expect(main.get_by_role("heading", name="Live map").first).to_be_visible(timeout=SLOW)
    expect(main.locator('[data-testid="stMultiSelect"]').first).to_contain_text(NEW_CPO)  # filtered to it
    card = main.locator('[class*="st-key-steps_live"]')
    expect(card).to_contain_text("5 of 6 steps")  # no status has reached the platform yet
    token = subprocess.run(
        [sys.executable, "-m", "oioi_onboard.cli", "cpo", "token", NEW_CPO], env=product.env, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.split()[-1]
    changes = {f"{NEW_OPERATOR}*EMA0001*1": "Occupied", f"{NEW_OPERATOR}*EMA0002*1": "Offline",
               f"{NEW_OPERATOR}*EMA0003*1": "Reserved"}
    answer = httpx.post(
        f"{product.relay_url}/v1/statuses", headers={"Authorization": f"Bearer {token}"}, timeout=30,
        json=[{"evse_id": evse, "status": status, "timestamp": "2026-01-01T12:00:00Z"}
              for evse, status in changes.items()],
    )
    assert answer.status_code in (200, 207), answer.text
    _wait_for_sandbox_statuses(product, changes, page)
    legend = main.locator('[data-testid="stHtml"]').first
    for status in changes.values():  # the live fragment refreshes by itself; no reload
        expect(legend).to_contain_text(f"{status} 1", timeout=SLOW)
    # And the onboarding card above it, once the first status reached the platform.
    expect(card).to_contain_text("6 of 6 steps", timeout=SLOW)
    expect(card).to_contain_text("Onboarding complete: statuses reach the platform.")
    changes_table = main.locator('[data-testid="stDataFrame"]').first
    for evse in changes:
        expect(changes_table.get_by_text(evse)).to_be_attached(timeout=SLOW)
    live_deck = main.locator('[data-testid="stDeckGlJsonChart"]').first
    expect(live_deck.locator("canvas").first).to_be_attached()
    chart = main.locator('[data-testid="stVegaLiteChart"]').first
    expect(chart).to_be_visible(timeout=SLOW)
    page.wait_for_timeout(2000)
    shot(page, "09_live_map")
    live_map = shot(page, "10_live_map_canvas", live_deck)
    chart_shot = shot(page, "10b_chart_24_hour_axis", chart)  # "time (UTC)" under labels such as 20:05, never 08 PM
    # Its lines are drawn: a status's colour above the legend (a title once squeezed the plot to nothing).
    assert _lines_drawn(chart_shot), "the chart draws no line above its legend"

    # --- a status set in the UI is delivered within seconds ------------------------------------
    evse = f"{NEW_OPERATOR}*EMA0004*1"
    set_form = main.locator('[data-testid="stForm"]')
    set_form.scroll_into_view_if_needed()
    expect(main.get_by_role("combobox", name="CPO to set statuses for")).to_have_value(NEW_CPO)  # the map's CPO
    box = set_form.locator('[data-testid="stSelectbox"]').first
    box.click()
    page.keyboard.type("EMA0004*1")
    page.get_by_role("option", name=evse, exact=True).click()
    set_form.get_by_text("Occupied", exact=True).click()
    set_form.get_by_role("button", name="Set status").click()
    clicked = time.monotonic()
    settle(page)
    expect(main.get_by_text(f"{evse} is now Occupied")).to_be_visible(timeout=SLOW)

    # --- the station view: delivered within seconds; its connectors, the exact request and the answer -------
    station_field = field(main, "Station or EVSE id")
    station_field.fill(evse)
    station_field.press("Enter")
    settle(page)
    station_changes = main.locator('[data-testid="stDataFrame"]').filter(has_text="Took (s)").last
    # Its one change so far (the grid's cells are read through their accessible text).
    expect(station_changes.get_by_text("delivered", exact=True).first).to_be_attached(timeout=20_000)
    took = time.monotonic() - clicked
    assert took < 25, f"the status set in the UI showed as delivered only after {took:.0f} s"
    request = main.locator('[data-testid="stExpander"]').filter(has_text=f"{evse} → Occupied")
    expect(request.first).to_contain_text("acknowledged · success (result code 0)", timeout=SLOW)
    expect(request.first).to_contain_text("connector-post-status")  # the exact body, as st.json shows it
    expect(request.first).to_contain_text("partner-identifier")
    expect(changes_table.get_by_text(evse)).to_be_attached(timeout=SLOW)  # and among the recent changes
    shot(page, "11_recent_changes", changes_table)
    main.get_by_role("heading", name="Station", exact=True).scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    shot(page, "12_station_view")

    # --- a click on a station on the map opens it too ------------------------------------------------
    main.get_by_role("button", name="Close").click()
    settle(page)
    expect(field(main, "Station or EVSE id")).to_have_value("")
    x, y = _point_of_colour(shot(page, "13_live_map_before_click", live_deck), OFFLINE)  # EMA0002*1 is Offline
    live_deck.click(position={"x": x, "y": y})
    settle(page)
    expect(field(main, "Station or EVSE id")).to_have_value(re.compile(r"^DE\*E2E\*S"), timeout=SLOW)
    expect(main.get_by_text("Requests sent", exact=True)).to_be_visible(timeout=SLOW)
    shot(page, "14_station_picked_on_the_map")

    # --- the maps show stations as dots over the offline base map -------------------------------
    for path, what in ((import_map, "import preview"), (live_map, "live map")):
        covered = _covered_share(path)
        assert covered < 0.35, (
            f"the {what} is {covered:.0%} covered by its own points ({path.name}): a dot should be a few pixels"
        )
        base = _base_map_share(path)
        assert base > 0.5, f"the {what} shows the base map on only {base:.0%} of it ({path.name})"

    # --- the Demo OCPI CPO: stations from its OCPI back end with no file, live statuses by OCPI PATCH ----------
    pushed = [s for s in product.sandbox_stats()["station_accepts"] if s.startswith(DEMO_OCPI_OPERATOR)]
    assert len(pushed) == 39, "the Demo OCPI CPO's stations were not pushed at start"  # 40 Locations, 1 unpublished
    main = open_page(page, "Overview")
    to_live = main.get_by_role("button", name=f"Live map · {DEMO_OCPI_CPO} →")
    for _ in range(12):  # its statuses are delivered a moment after the push: the step turns complete
        if to_live.count():
            break
        page.wait_for_timeout(5000)
        page.reload()
        settle(page)
    expect(to_live).to_be_visible(timeout=SLOW)
    shot(page, "15_overview_with_the_demo_ocpi_cpo")
    to_live.click()
    settle(page)
    expect(main.get_by_role("heading", name="Live map").first).to_be_visible(timeout=SLOW)
    expect(main.locator('[data-testid="stMultiSelect"]').first).to_contain_text(DEMO_OCPI_CPO)
    recent = main.locator('[data-testid="stDataFrame"]').first
    expect(recent.get_by_text("ocpi", exact=True).first).to_be_attached(timeout=SLOW)
    expect(recent.get_by_text(re.compile(r"^BE\*OCS\*E")).first).to_be_attached()
    page.wait_for_timeout(2000)
    shot(page, "16_demo_ocpi_live_map")
    station_field = field(main, "Station or EVSE id")
    station_field.fill(f"{DEMO_OCPI_OPERATOR}*LOC00001")
    station_field.press("Enter")
    settle(page)
    connectors = main.locator('[data-testid="stDataFrame"]').filter(has_text="Source").filter(has_text="Since").last
    expect(connectors.get_by_text("ocpi", exact=True).first).to_be_attached(timeout=SLOW)
    page.wait_for_timeout(500)
    shot(page, "17_demo_ocpi_station_connectors", connectors)  # status and its source first


def _point_of_colour(path: Path, colour: tuple[int, int, int]) -> tuple[int, int]:
    """The middle of the pixels of ``colour`` in a screenshot (a point drawn in it), in its pixels."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    ys, xs = np.nonzero(np.abs(pixels - np.array(colour)).max(axis=2) <= 6)
    assert len(xs), f"no point of colour {colour} in {path.name}"
    return int(np.median(xs)), int(np.median(ys))


def _lines_drawn(path: Path) -> bool:
    """Whether the upper half of a chart screenshot (the plot; the legend is below) holds a status colour other
    than Unknown's grey, which the axes share."""
    import numpy as np
    from PIL import Image

    from components.live_map_layers import STATUS_COLOURS

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    plot = pixels[: pixels.shape[0] // 2]
    colours = [colour for status, colour in STATUS_COLOURS.items() if status != "Unknown"]
    return any((np.abs(plot - np.array(colour)).max(axis=2) <= 12).sum() >= 20 for colour in colours)


def _base_map_share(path: Path) -> float:
    """The share of a map screenshot's pixels in the offline base map's sea and land colours."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    near = [(np.abs(pixels - np.array(colour)).max(axis=2) <= 4) for colour in (SEA, LAND)]
    return float((near[0] | near[1]).mean())


def _covered_share(path: Path) -> float:
    """The share of a map screenshot's pixels that are coloured (the base map's sea and land are paler)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"))
    return float((pixels.min(axis=2) < 200).mean())


def _wait_for_sandbox_statuses(product: Product, changes: dict[str, str], page: Page) -> None:
    """Every posted status reached the sandbox's connectors."""
    for _ in range(120):
        held = {}
        for station in httpx.get(f"{product.sandbox_url}/_sandbox/stations", timeout=30).json():
            for connector in station["connectors"]:
                held[connector["id"]] = connector["status"]
        if all(held.get(evse) == status for evse, status in changes.items()):
            return
        page.wait_for_timeout(1000)
    raise AssertionError(f"statuses at the sandbox: { {e: held.get(e) for e in changes} }, expected {changes}")
