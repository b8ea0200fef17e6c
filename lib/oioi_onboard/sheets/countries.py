"""Countries as files name them, where a station lies, and the country of a file that names none.

``country_code`` reads a country in any form files write it ("DE", "DEU",
"Deutschland", "Italia", "Magyarország", "UK"); ``inside_countries`` is the
coarse check that a point lies in its country (rules.COUNTRY_BOXES), which
tells coordinates' order; ``infer_country`` takes the country from the
operator ids, the EVSE ids or the phone numbers when the file has no column
for it, and says so.
"""

import functools
import gettext

import numpy as np
import pandas as pd
import phonenumbers
import pycountry

from ..oioi import ids as oioi_ids
from ..wording import counted
from . import aliases, languages, rules
from .factorize import by_value
from .issues import Severity, make_issues

__all__ = ["country_code", "inside_countries", "infer_country"]


@functools.cache
def _country_names() -> dict[str, str]:
    """Folded country name -> ISO code: the names of the countries stations are checked in (rules.COUNTRY_BOXES),
    translated into each language of sheets.languages ("Italia", "Niemcy", "Svédország"), and the names files
    use that the ISO tables lack ("UK", "D"). Other countries are looked up by their English names."""
    countries = [pycountry.countries.get(alpha_2=code) for code in rules.COUNTRY_BOXES]
    english = {name for country in countries for name in (country.name, getattr(country, "common_name", "")) if name}
    names: dict[str, str] = {}
    for language in languages.LANGUAGES:
        try:  # pycountry's translations of ISO 3166-1; Norwegian is Bokmål there
            translate = gettext.translation("iso3166-1", pycountry.LOCALES_DIR,
                                            languages=[{"no": "nb"}.get(language, language)]).gettext
        except OSError:
            translate = str
        for country in countries:
            for name in (country.name, getattr(country, "common_name", "")):
                if name and (language == "en" or translate(name) not in english):
                    names.setdefault(aliases.fold(translate(name)), country.alpha_2)
    for code, aliases_of_code in languages.country_aliases().items():
        names.update({aliases.fold(name): code for name in aliases_of_code})
    return names


def country_code(value: str) -> str:
    """A country as files write it ('DE', 'Deutschland', 'Italia', 'DEU') -> its ISO code; else as found."""
    text = value.strip()
    if len(text) == 2 and text.isalpha() and text.upper() in rules.ISO_COUNTRIES:
        return text.upper()
    if not text:
        return ""
    code = _country_names().get(aliases.fold(text))
    if code:
        return code
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return text.upper() if len(text) == 2 else text


def inside_countries(lat: np.ndarray, lon: np.ndarray, countries: np.ndarray) -> np.ndarray:
    """Per row: the point lies in its country's coarse boxes (False where the country is not known)."""
    inside = np.zeros(len(lat), dtype=bool)
    for code in pd.unique(countries):
        boxes = rules.COUNTRY_BOXES.get(code)
        if not boxes:
            continue
        here = countries == code
        for south, north, west, east in boxes:
            with np.errstate(invalid="ignore"):
                inside |= here & (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
    return inside


def _country_of_operator(value: str) -> str:
    try:
        return oioi_ids.parse_operator_id(value).country
    except oioi_ids.IdError:
        return ""


def _country_of_evse(value: str) -> str:
    operator = oioi_ids.evse_operator_id(value)
    return _country_of_operator(operator) if operator else ""


def _country_of_phone(value: str) -> str:
    text = value.strip()
    if not text.startswith(("+", "00")):
        return ""  # a national number names no country
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + text.lstrip("+0")
                                                                          if text.startswith("00") else text))
    except phonenumbers.NumberParseException:
        return ""
    return region if region and region != "ZZ" else ""


def infer_country(out: pd.DataFrame, evse: pd.Series, header_row: int, issues: list[pd.DataFrame]) -> pd.Series:
    """The country where the file names none: from the operator id, else the EVSE id, else the phone's prefix."""
    sources = [("the operator ids", by_value(out["cpo_id"], _country_of_operator)),
               ("the EVSE ids", by_value(evse, _country_of_evse)),
               ("the phone numbers", by_value(out["phone"], _country_of_phone))]
    country = out["country"]
    counts = []
    for label, guess in sources:
        fill = (country == "") & (guess != "")
        if fill.any():
            found = guess[fill].value_counts()
            counts.append(f"{label} for {counted(int(fill.sum()), 'row')} ("
                          + ", ".join(f"{code}: {n:,}" for code, n in found.head(5).items()) + ")")
            country = country.where(~fill, guess)
    if counts:
        likely = country[country != ""].value_counts().index[0]  # the file's likely country, for the example
        issues.append(make_issues(
            [header_row], "country", [""], "country_inferred",
            "the file has no country: it was taken from " + "; ".join(counts)
            + f". Check it, or give the country every station shares ({likely}?) as the CPO's default",
            Severity.WARNING))
    return country
