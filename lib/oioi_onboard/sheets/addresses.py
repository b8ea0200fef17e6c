"""Postal addresses as files write them: one line, in the orders Europe uses.

- ``Luisenring 49a, 68159 Mannheim``: street, number, postcode, city (DE, AT, NL, BE, CH, IT, ES, ...);
  the number after a comma too (``Calle de Alcalá, 45, 28014 Madrid``) or a marker (``Str. Lipscani nr. 12``),
  and the postcodes of each country (``00-590 Warszawa``, ``111 51 Stockholm``, ``1012 JS Amsterdam``);
- ``12 rue de la République 68100 Mulhouse``: number first (FR, LU, GB, IE);
- ``12 High Street, London SW1A 1AA``: the British postcode after the city;
- ``1061 Budapest, Andrássy út 12.``: postcode and city first, as Hungary writes it.

``parse_address`` returns the parts and whether the reading was sure: a
reading that had to guess (no postcode found, a postcode that does not fit the
country, a number that could belong to the street's name) is reported as a
warning by the mapping. Postcode formats per country are here too, for the
plausibility checks.
"""

import re
from dataclasses import dataclass

__all__ = ["Address", "parse_address", "address_line", "ZIP_PATTERNS", "zip_fits", "NUMBER_FIRST",
           "CITY_STREET_WORDS"]

# Postcode formats (upper case, as written locally). Countries not listed are not checked.
_UK = r"(?:GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})"
ZIP_PATTERNS: dict[str, str] = {
    "DE": r"[0-9]{5}", "FR": r"[0-9]{5}", "IT": r"[0-9]{5}", "ES": r"[0-9]{5}", "FI": r"[0-9]{5}",
    "HR": r"[0-9]{5}", "EE": r"[0-9]{5}", "MC": r"980[0-9]{2}", "US": r"[0-9]{5}(?:-[0-9]{4})?",
    "AT": r"[0-9]{4}", "CH": r"[0-9]{4}", "LI": r"94[89][0-9]", "BE": r"[0-9]{4}", "DK": r"[0-9]{4}",
    "NO": r"[0-9]{4}", "HU": r"[0-9]{4}", "SI": r"[0-9]{4}", "BG": r"[0-9]{4}",
    "LU": r"(?:L-?)?[0-9]{4}", "NL": r"[0-9]{4} ?[A-Z]{2}", "PT": r"[0-9]{4}-[0-9]{3}", "PL": r"[0-9]{2}-[0-9]{3}",
    "CZ": r"[0-9]{3} ?[0-9]{2}", "SK": r"[0-9]{3} ?[0-9]{2}", "SE": r"[0-9]{3} ?[0-9]{2}", "GR": r"[0-9]{3} ?[0-9]{2}",
    "RO": r"[0-9]{6}", "LV": r"(?:LV-)?[0-9]{4}", "LT": r"(?:LT-)?[0-9]{5}",
    "GB": _UK, "IE": r"[A-Z][0-9][0-9W] ?[A-Z0-9]{4}",
}
_ZIP_COMPILED = {country: re.compile(pattern) for country, pattern in ZIP_PATTERNS.items()}

# Where the house number comes before the street ("12 rue X", "12 High Street").
NUMBER_FIRST = frozenset({"FR", "LU", "MC", "GB", "IE", "US", "CA", "AU", "NZ"})

# Words that name a street, never a city: a city holding one is most likely a whole address.
CITY_STREET_WORDS = frozenset({
    "rue", "avenue", "boulevard", "bd", "chemin", "allee", "impasse", "quai", "route", "rte", "place", "square",
    "strasse", "str", "gasse", "weg", "platz", "ring", "damm", "ufer", "chaussee",
    "street", "road", "lane", "drive", "close",  # not "st": St. Gallen, St. Pölten
    "straat", "laan", "plein", "gracht", "steenweg", "dreef", "via", "viale", "piazza", "calle", "plaza",
})

_COUNTRY_NAMES = (
    "deutschland", "germany", "allemagne", "oesterreich", "österreich", "austria", "autriche", "schweiz", "suisse",
    "switzerland", "france", "frankreich", "nederland", "niederlande", "netherlands", "belgique", "belgie", "belgië",
    "belgium", "belgien", "luxembourg", "luxemburg", "united kingdom", "uk", "great britain", "england",
    "scotland", "wales", "ireland", "italia", "italy", "espana", "españa", "spain",
)
_TRAILING_COUNTRY = re.compile(r"\s*,?\s*(?:" + "|".join(re.escape(n) for n in _COUNTRY_NAMES) + r")\s*$", re.I)

_NUMBER = r"[0-9]+ ?[A-Za-z]?(?: ?(?:bis|ter|quater))?(?: ?[-–/+] ?[0-9]+ ?[A-Za-z]?)?"
_NUMBER_FIRST = re.compile(rf"^(?P<number>{_NUMBER})\s*,?\s+(?P<street>[^\d\s].*)$", re.I)
_NUMBER_LAST = re.compile(rf"^(?P<street>.*?[^\W\d_].*?[^\s,])\s*,?\s+(?P<number>{_NUMBER})$", re.I)
# Continental postcodes before the city: "68159", "1010", "1234 AB", "L-1234", "00-950", "1000-001", "123 45".
_ZIP_CITY = re.compile(
    r"^(?P<head>.*?)[,\s]\s*(?P<zip>(?:[A-Z]{1,2}-)?[0-9]{4,6}(?: ?[A-Z]{2}(?=\s))?|[0-9]{2}-[0-9]{3}|[0-9]{4}-[0-9]{3}"
    r"|[0-9]{3} [0-9]{2})\s*,?\s+(?P<city>[^\d,\s][^,]*?)$"
)
_CITY_UK = re.compile(rf"^(?P<head>.*?),\s*(?P<city>[^\d,][^,]*?)\s*,?\s+(?P<zip>{_UK})$", re.I)
# Postcode and city before the street: "1061 Budapest, Andrássy út 12."
_ZIP_CITY_FIRST = re.compile(r"^(?P<zip>[0-9]{4,6})\s+(?P<city>[^\d,][^,]*?)\s*,\s*(?P<head>\S.*\d.*)$")
# Words between a street and its number: "nr. 12", "n. 12", "no 12", "n.º 12", "č. 12", "núm. 12".
_NUMBER_MARK = re.compile(r"\s*,?\s*\b(?:nr|no|num|núm|č|n)\.?\s*[º°]?\s*$", re.I)
# A province after the city, as Italian files write it: "Milano (MI)".
_PROVINCE = re.compile(r"\s*\([A-Z]{2}\)$")


@dataclass(frozen=True)
class Address:
    street: str
    number: str
    zip: str
    city: str
    sure: bool  # False: a part was guessed; the mapping reports it as a warning


def zip_fits(zip_code: str, country: str) -> bool | None:
    """Whether a postcode has its country's format; None for countries whose format is not known here."""
    pattern = _ZIP_COMPILED.get(country.upper())
    if pattern is None:
        return None
    return pattern.fullmatch(zip_code.strip().upper()) is not None


def _street_and_number(head: str, country: str) -> tuple[str, str, bool]:
    head = head.strip().strip(",-–").strip().removesuffix(".")
    first = _NUMBER_FIRST.match(head)
    last = _NUMBER_LAST.match(head)
    if first and last:
        # "12 Route 66": the country's habit decides; without a country it is a guess.
        chosen = first if country in NUMBER_FIRST or (not country and head[0].isdigit()) else last
        return chosen["street"].strip(), re.sub(r"\s+", "", chosen["number"]), bool(country)
    if first or last:
        found = first or last
        street = _NUMBER_MARK.sub("", found["street"].strip()) if last else found["street"]
        return street.strip().strip(","), re.sub(r"\s+", "", found["number"]), True
    # No number: fine when the head holds no digit at all ("Marktplatz"); a guess otherwise.
    return head, "", not re.search(r"\d", head)


def parse_address(text: str, country: str = "") -> Address | None:
    """One line -> its parts; None when it holds nothing that looks like a street."""
    line = " ".join(str(text).split())
    if not line:
        return None
    country = country.upper()
    line = _TRAILING_COUNTRY.sub("", line)
    uk = _CITY_UK.match(line) if country in ("GB", "IE", "") else None
    first = _ZIP_CITY_FIRST.match(line) if not uk else None
    if uk:
        street, number, sure = _street_and_number(uk["head"], country or "GB")
        zip_code, city = uk["zip"].upper(), uk["city"].strip()
    elif first:
        street, number, sure = _street_and_number(first["head"], country)
        zip_code, city = first["zip"], first["city"].strip()
    else:
        found = _ZIP_CITY.match(line)
        if found:
            street, number, sure = _street_and_number(found["head"], country)
            zip_code, city = found["zip"], found["city"].strip()
        else:
            # No postcode: "Hauptstraße 12, Berlin" still names street and city.
            head, comma, tail = line.rpartition(",")
            if comma and tail.strip() and not re.search(r"\d", tail):
                street, number, _ = _street_and_number(head, country)
                return Address(street, number, "", tail.strip(), False)
            street, number, _ = _street_and_number(line, country)
            return Address(street, number, "", "", False)
    if country and zip_fits(zip_code, country) is False:
        sure = False
    return Address(street, number, zip_code, _PROVINCE.sub("", city), sure and bool(street))


def address_line(street: str, number: str, zip_code: str, city: str) -> str:
    """'Via Roma 12, 20121 Milano': each part once, so a street that holds the whole line is not followed by
    its postcode and city again."""
    line = " ".join(street.split())
    if number and number not in line.split():
        line = f"{line} {number}".strip()
    place = [part for part in (zip_code, city) if part and part not in line]
    return ", ".join(part for part in (line, " ".join(place)) if part)
