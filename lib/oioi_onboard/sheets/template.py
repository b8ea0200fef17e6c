"""The downloadable template: the canonical layout with two example rows and a column guide.

``oioi-onboard template FOLDER`` writes template.csv and template.xlsx (``sample_data/`` holds
the shipped copies, which the tests compare with these functions).
"""

import csv
import io
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .canonical import COLUMNS, NAMES

__all__ = ["template_csv", "template_xlsx", "EXAMPLE_ROWS", "write_samples"]

# One station with one EVSE offering two connector types (they share the EVSE id).
_SHARED = {
    "station_id": "DE*8PS*S0001",
    "station_name": "Marktplatz",
    "description": "Two sockets behind the town hall",
    "latitude": "49.4875",
    "longitude": "8.4660",
    "street": "Luisenring",
    "street_number": "49a",
    "city": "Mannheim",
    "zip": "68159",
    "country": "DE",
    "phone": "+49 621 1234567",
    "fax": "",
    "web": "https://example.com",
    "email": "service@example.com",
    "cpo_id": "DE*8PS",
    "is_open_24": "no",
    "open_hours": "Mo-Fr 07:30-19:00; Sa 09:00-15:00",
    "notes": "Level -1, bay 12",
    "is_reservable": "no",
    "floor_level": "-1",
    "is_free_charge": "no",
    "total_parking": "2",
    "is_green_power_available": "yes",
    "is_plugin_charge": "no",
    "is_roofed": "yes",
    "is_private": "no",
    "evse_id": "DE*8PS*E0001*1",
}
EXAMPLE_ROWS = [
    {**_SHARED, "connector_type": "Type2", "speed_kw": "22"},
    {**_SHARED, "connector_type": "Schuko", "speed_kw": "3.7"},
]


def template_csv() -> bytes:
    """UTF-8 with a BOM so that Excel opens umlauts correctly; comma separated."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(NAMES)
    for row in EXAMPLE_ROWS:
        writer.writerow([row[name] for name in NAMES])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    """Sheet ``stations`` (header + examples, all cells text) and sheet ``columns`` (the guide)."""
    workbook = Workbook()
    stations = workbook.active
    stations.title = "stations"
    stations.append(NAMES)
    for row in EXAMPLE_ROWS:
        stations.append([row[name] for name in NAMES])
    bold = Font(bold=True)
    for column, spec in enumerate(COLUMNS, start=1):
        cell = stations.cell(row=1, column=column)
        cell.font = bold
        letter = get_column_letter(column)
        stations.column_dimensions[letter].width = max(12, len(spec.name) + 2)
        # Text format keeps ids, postcodes and house numbers as typed ("01067", "49a").
        for row in range(2, 502):
            stations.cell(row=row, column=column).number_format = "@"
    stations.freeze_panes = "A2"

    guide = workbook.create_sheet("columns")
    guide.append(["name", "required", "description", "example"])
    for cell in guide[1]:
        cell.font = bold
    for spec in COLUMNS:
        guide.append([spec.name, "yes" if spec.required else "no", spec.description, spec.example])
    for letter, width in zip("ABCD", (26, 10, 70, 36), strict=True):
        guide.column_dimensions[letter].width = width

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_samples(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "template.csv").write_bytes(template_csv())
    (folder / "template.xlsx").write_bytes(template_xlsx())
