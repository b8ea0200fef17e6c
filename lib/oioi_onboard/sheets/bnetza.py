"""The built-in ``bnetza`` profile: Germany's public charging register (Ladesäulenregister).

The Bundesnetzagentur's file (CC BY 4.0) has a title block above the header,
German headers, "Adresse" as street plus number, "Postleitzahl Ort" as
postcode plus city, up to four charge points per row side by side
("Steckertypen1", "P1 [kW]", "Public Key1", ...), several connector types in
one cell, placeholders such as "0", many operators in one file and no ids.
Each row is one charging device, so one station here.

What the register does not say is set as a constant that a saved profile can
override: the country (DE) and "open 24 hours" (the register lists public
charge points; their hours are not in it). It has no phone numbers either;
without a phone constant the validator reports each station's missing hotline.
"""

import pandas as pd

from . import aliases
from .canonical import ROW
from .issues import Severity, make_issues
from .mapping import Mapping
from .reader import RawSheet
from .report import neutralise

__all__ = ["NAME", "bnetza_mapping", "bnetza_issues", "operator_table_csv", "CHARGE_POINTS", "OPERATOR_COLUMN"]

NAME = "bnetza"
OPERATOR_COLUMN = "Betreiber"
CHARGE_POINTS = 4


def bnetza_mapping(operators: dict[str, str] | None = None, constants: dict[str, str] | None = None) -> Mapping:
    """The register's layout as a Mapping; ``operators`` maps operator names to operator ids."""
    return Mapping(
        columns={
            "street": "Adresse",
            "street_number": "Adresse",
            "zip": "Postleitzahl Ort",
            "city": "Postleitzahl Ort",
            "latitude": "Breitengrad [DG]",
            "longitude": "Längengrad [DG]",
        },
        constants={"country": "DE", "is_open_24": "true", **(constants or {})},
        operator_column=OPERATOR_COLUMN,
        operators=dict(operators or {}),
        charge_points=[
            {"connector_type": f"Steckertypen{n}", "speed_kw": f"P{n} [kW]"} for n in range(1, CHARGE_POINTS + 1)
        ],
        name_from=["Adresse", "Postleitzahl Ort"],
    )


def bnetza_issues(frame: pd.DataFrame) -> pd.DataFrame:
    """Placeholders the register holds that the generic mapping cannot know about.

    German postcodes have five digits; the register has some with four or six
    (typing slips). They are reported, not corrected: the CPO knows the right one.
    """
    first = ~frame[ROW].duplicated()
    stations = frame[first]
    bad_zip = (stations["zip"] != "") & ~stations["zip"].str.fullmatch(r"\d{5}")
    return make_issues(
        stations.loc[bad_zip, ROW],
        "zip",
        stations.loc[bad_zip, "zip"],
        "junk_value",
        "postcode " + stations.loc[bad_zip, "zip"].map(repr) + " does not have the five digits of a German postcode",
        Severity.WARNING,
    )


def operator_table_csv(raw: RawSheet) -> bytes:
    """The register's operator names, most stations first, as an operator table to fill in.

    Two columns, as ``profiles.load_operators_csv`` reads them; the operator ids are
    left empty for the person who knows them. UTF-8 with a BOM, so Excel shows umlauts.
    """
    column = aliases.headers_by_fold(raw.columns).get(aliases.fold(OPERATOR_COLUMN))
    names = raw.frame[column].astype("str").str.strip() if column else pd.Series(dtype="str")
    table = pd.DataFrame({"operator name": names[names != ""].value_counts().index, "operator id": ""})
    table["operator name"] = table["operator name"].map(neutralise)  # a name is never a formula in Excel
    return table.to_csv(sep=";", index=False).encode("utf-8-sig")
