"""Files as CPOs have them map with no manual step, validate to zero errors, and export what a push sends.

The files (tests/data/sheets, written by make_real_files.py): France's IRVE
schema in the 2.2/2.3 and the 3 layout, a one-line-address file for each
European order, a per-plug yes/no file. Each goes through ``oioi-onboard
validate --export`` with no option at all; the exported table is compared
with what the stations are, cell by cell.
"""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from oioi_onboard.cli import app
from oioi_onboard.sheets.canonical import NAMES
from tests.data.sheets import make_real_files
from tests.helpers.sheet_files import SHEETS

EMPTY = dict.fromkeys(NAMES, "")


def validate_and_export(path, tmp_path, *options):
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["validate", str(path), "--json", "--export", str(out), *options])
    assert "Traceback" not in result.output, result.output
    report = json.loads(result.stdout)
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    return result, report, rows


def station(**values) -> dict[str, str]:
    return {**EMPTY, **values}


def connectors(base: dict, *points: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{**base, "evse_id": evse, "connector_type": kind, "speed_kw": kw} for evse, kind, kw in points]


def test_the_files_are_what_the_generator_writes():
    for name, data in make_real_files.files().items():
        assert (SHEETS / name).read_bytes() == data, f"{name} differs: run tests/data/sheets/make_real_files.py"


# --- France's IRVE schema ---------------------------------------------------------------

IRVE_COMMON = {"country": "FR", "phone": "0389123456", "email": "support@recharge-alsace.example.fr",
               "cpo_id": "FR*A68"}
MULHOUSE_GARE = station(**IRVE_COMMON, station_id="FRA68P68224001", station_name="Mulhouse Gare",
                        latitude="47.742", longitude="7.3425", street="Rue de la République", street_number="12",
                        city="Mulhouse", zip="68100", is_open_24="true")
PORTE_JEUNE = station(**IRVE_COMMON, station_id="FRA68P68224002", station_name="Parking Porte Jeune",
                      latitude="47.7469", longitude="7.3389", street="Place de la Réunion", street_number="2bis",
                      city="Mulhouse", zip="68100", is_open_24="false",
                      open_hours="Mo-Fr 08:00-12:00, 14:00-18:00; Th 08:00-18:00")
STRASBOURG = station(**IRVE_COMMON, station_id="FRA68P67482001", station_name="Strasbourg Boulevard de Metz",
                     latitude="48.5851", longitude="7.7349", street="Boulevard de Metz", street_number="5",
                     city="Strasbourg", zip="67000", is_open_24="true")


def irve_expected(parking: dict[str, str]) -> list[dict[str, str]]:
    """The four points de charge: each plug that is there is a connector sharing the point's EVSE id."""
    return (
        connectors({**MULHOUSE_GARE, "total_parking": parking.get("FRA68P68224001", "")},
                   ("FRA68E682240011", "Type2", "22"), ("FRA68E682240011", "TypeE", "22"),
                   ("FRA68E682240012", "Chademo", "50"), ("FRA68E682240012", "Combo", "50"))
        + connectors({**PORTE_JEUNE, "total_parking": parking.get("FRA68P68224002", "")},
                     ("FRA68E682240021", "Type2", "7.4"))
        + connectors({**STRASBOURG, "total_parking": parking.get("FRA68P67482001", "")},
                     ("FRA68E674820011", "Combo", "150"))
    )


@pytest.mark.parametrize(("name", "version", "parking"), [
    ("irve_v23.csv", "v2.2/2.3", {}),
    ("irve_v3.csv", "v3", {"FRA68P68224001": "4", "FRA68P67482001": "2"}),  # nb_places is new in 3
])
def test_irve_file_maps_by_itself_and_exports_what_it_says(tmp_path, name, version, parking):
    result, report, rows = validate_and_export(SHEETS / name, tmp_path)
    assert result.exit_code == 0, result.output
    assert (report["stations"], report["stations_valid"], report["connectors"]) == (3, 3, 6)
    assert (report["errors"], report["warnings"]) == (0, 0), report["issues"]
    assert f"France's IRVE static schema ({version})" in result.stderr
    assert rows == irve_expected(parking)


# --- one-line addresses, one file per order ------------------------------------------------

def address_station(station_id, name, street, number, zip_code, city, country, latitude, longitude, phone,
                    open_24="true"):
    operator = station_id.rsplit("*", 1)[0]
    return station(station_id=station_id, station_name=name, latitude=latitude, longitude=longitude, street=street,
                   street_number=number, city=city, zip=zip_code, country=country, phone=phone, cpo_id=operator,
                   is_open_24=open_24)


ADDRESS_FILES = {
    # "Street 12, 12345 City" (DE, AT, NL, BE, CH); coordinates "[lon, lat]" in one column.
    "addresses_street_first.csv": (
        connectors(address_station("DE*ABC*S1", "Luisenring", "Luisenring", "49a", "68159", "Mannheim", "DE",
                                   "49.4875", "8.466", "+49 621 1234567"),
                   ("DE*ABC*E1001", "Type2", "22"), ("DE*ABC*E1002", "Combo", "50"))
        + connectors(address_station("AT*ABC*S2", "Stephansplatz", "Stephansplatz", "1", "1010", "Wien", "AT",
                                     "48.2085", "16.3725", "+43 1 5123456"), ("AT*ABC*E2001", "Type2", "11"))
        + connectors(address_station("NL*ABC*S3", "Kerkstraat", "Kerkstraat", "12", "1017 GC", "Amsterdam", "NL",
                                     "52.3645", "4.8897", "+31 20 1234567"), ("NL*ABC*E3001", "Type2", "11"))
        + connectors(address_station("BE*ABC*S4", "Rue de la Loi", "Rue de la Loi", "16", "1000", "Bruxelles", "BE",
                                     "50.8466", "4.368", "+32 2 511 22 33", "false"), ("BE*ABC*E4001", "Type2", "22"))
        + connectors(address_station("CH*ABC*S5", "Bahnhofstrasse", "Bahnhofstrasse", "1", "8001", "Zürich", "CH",
                                     "47.37", "8.539", "+41 44 123 45 67"), ("CH*ABC*E5001", "Chademo", "50"))
    ),
    # "12 rue X, 75001 Paris" (FR), with or without the comma; coordinates as WKT POINT(lon lat).
    "addresses_number_first.csv": (
        connectors(address_station("FR*ABC*S1", "Rivoli", "rue de Rivoli", "12", "75004", "Paris", "FR",
                                   "48.8556", "2.354", "+33 1 42 76 40 40"), ("FR*ABC*E1001", "Type2", "22"))
        + connectors(address_station("FR*ABC*S2", "Quai Kléber", "Quai Kléber", "3", "67000", "Strasbourg", "FR",
                                     "48.5839", "7.743", "+33 3 88 12 34 56"), ("FR*ABC*E2001", "Combo", "150"))
        + connectors(address_station("FR*ABC*S3", "Jean Jaurès", "Avenue Jean Jaurès", "8bis", "69007", "Lyon", "FR",
                                     "45.748", "4.842", "+33 4 72 12 34 56", "false"), ("FR*ABC*E3001", "Type2", "7.4"))
    ),
    # "12 High Street, London SW1A 1AA" (GB); coordinates "lat, lon".
    "addresses_gb.csv": (
        connectors(address_station("GB*ABC*S1", "Downing Street", "Downing Street", "10", "SW1A 2AA", "London", "GB",
                                   "51.5034", "-0.1276", "+44 20 7946 0958"), ("GB*ABC*E1001", "Type2", "7"))
        + connectors(address_station("GB*ABC*S2", "Baker Street", "Baker Street", "221B", "NW1 6XE", "London", "GB",
                                     "51.5238", "-0.1586", "+44 20 7946 0959"), ("GB*ABC*E2001", "Combo", "50"))
        + connectors(address_station("GB*ABC*S3", "Deansgate", "Deansgate", "1", "M3 1AZ", "Manchester", "GB",
                                     "53.4839", "-2.2446", "+44 161 496 0000", "false"),
                     ("GB*ABC*E3001", "Type2", "22"))
    ),
}


@pytest.mark.parametrize("name", list(ADDRESS_FILES))
def test_one_line_addresses_in_each_order(tmp_path, name):
    result, report, rows = validate_and_export(SHEETS / name, tmp_path)
    assert result.exit_code == 0, result.output
    assert (report["errors"], report["warnings"]) == (0, 0), report["issues"]
    assert report["stations_valid"] == report["stations"]
    assert rows == ADDRESS_FILES[name]


def test_per_plug_yes_no_columns(tmp_path):
    result, report, rows = validate_and_export(SHEETS / "plugs_yes_no.csv", tmp_path)
    assert result.exit_code == 0, result.output
    assert (report["stations"], report["connectors"], report["errors"], report["warnings"]) == (2, 5, 0, 0)
    marktplatz = station(station_id="DE*ABC*S1", station_name="Marktplatz", latitude="49.4878", longitude="8.4662",
                         street="Marktplatz", street_number="1", city="Mannheim", zip="68161", country="DE",
                         phone="+49 621 1234567", cpo_id="DE*ABC", is_open_24="true")
    wasserturm = {**marktplatz, "station_id": "DE*ABC*S2", "station_name": "Wasserturm", "latitude": "49.484",
                  "longitude": "8.4754", "street": "Friedrichsplatz", "street_number": "5", "zip": "68165",
                  "is_open_24": "false"}
    assert rows == (
        connectors(marktplatz, ("DE*ABC*E1*1", "Schuko", "22"), ("DE*ABC*E1*1", "Type2", "22"),
                   ("DE*ABC*E1*2", "Chademo", "50"), ("DE*ABC*E1*2", "Combo", "50"))
        + connectors(wasserturm, ("DE*ABC*E2*1", "Type2", "11"))
    )


def test_the_export_reimports_to_the_same_table(tmp_path):
    """The canonical table is the template's layout: read back, it validates and exports identically."""
    _, _, first = validate_and_export(SHEETS / "irve_v3.csv", tmp_path)
    again = tmp_path / "again.csv"
    (tmp_path / "out.csv").rename(again)
    result, report, second = validate_and_export(again, tmp_path)
    assert result.exit_code == 0 and report["errors"] == 0, result.output
    assert second == first
