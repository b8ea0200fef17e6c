"""EVSE ids, operator ids and partner identifiers (glossary.rst).

The ISO form (``DE*8PS*E123456``) is what OIOI accepts. The old DIN form
(``+49*8PS*E123456``) still turns up in files and in the spec's own example;
it is recognised and can be converted on request, but never sent as is.
"""

import functools
import re
import secrets
from dataclasses import dataclass

import phonenumbers
import pycountry

from ..errors import UserError

EVSE_ID_PATTERN = r"[A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9\*]{1,30}"
OPERATOR_ID_PATTERN = r"[A-Za-z]{2}\*?[A-Za-z0-9]{3}"
_EVSE_ISO = re.compile(r"^(?P<country>[A-Za-z]{2})\*?(?P<operator>[A-Za-z0-9]{3})\*?E(?P<local>[A-Za-z0-9\*]{1,30})$")
_OPERATOR = re.compile(r"^(?P<country>[A-Za-z]{2})\*?(?P<operator>[A-Za-z0-9]{3})$")
_EVSE_DIN = re.compile(r"^\+(?P<calling>\d{1,3})\*(?P<operator>[A-Za-z0-9]{3})\*E?(?P<local>[A-Za-z0-9\*]{1,30})$")
_PARTNER_CHARS = re.compile(r"^[A-Za-z0-9\-_.~]+$")

PARTNER_ID_MIN_LENGTH = 16


class IdError(UserError):
    """An identifier that does not have the form OIOI requires."""


@functools.cache
def _alpha_2_codes() -> frozenset[str]:
    # One set, built once: pycountry's lookup costs ~20 µs a call, and a national file asks 300,000 times.
    return frozenset(country.alpha_2 for country in pycountry.countries)


def is_iso_country(code: str) -> bool:
    return len(code) == 2 and code.upper() in _alpha_2_codes()


@dataclass(frozen=True)
class OperatorId:
    country: str
    operator: str

    def __str__(self) -> str:
        return f"{self.country}*{self.operator}"


@dataclass(frozen=True)
class EvseId:
    country: str
    operator: str
    local: str

    @property
    def operator_id(self) -> OperatorId:
        return OperatorId(self.country, self.operator)

    def __str__(self) -> str:
        return f"{self.country}*{self.operator}*E{self.local}"


def parse_operator_id(value: str) -> OperatorId:
    """``DE*8PS`` or ``DE8PS`` -> OperatorId; the country must be ISO 3166-1 alpha-2."""
    match = _OPERATOR.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise IdError(f"operator id {value!r} is not of the form CC*XXX, e.g. DE*8PS")
    country = match["country"].upper()
    if not is_iso_country(country):
        raise IdError(f"operator id {value!r}: {country!r} is not an ISO 3166-1 alpha-2 country")
    return OperatorId(country, match["operator"].upper())


def is_evse_id(value: str) -> bool:
    return isinstance(value, str) and _EVSE_ISO.match(value) is not None


def parse_evse_id(value: str) -> EvseId:
    """An ISO EVSE id -> its parts. A DIN id raises, naming its ISO form."""
    match = _EVSE_ISO.match(value) if isinstance(value, str) else None
    if not match:
        if is_din_evse_id(value):
            raise IdError(f"EVSE id {value!r} is in the old DIN form; its ISO form is {din_to_iso(value)!r}")
        raise IdError(f"EVSE id {value!r} is not of the form CC*XXX*E..., e.g. DE*8PS*E123456")
    return EvseId(match["country"].upper(), match["operator"].upper(), match["local"])


def evse_operator_id(value: str) -> str | None:
    """The operator part of an ISO EVSE id in canonical form (``DE*8PS``), or None."""
    match = _EVSE_ISO.match(value) if isinstance(value, str) else None
    return f"{match['country'].upper()}*{match['operator'].upper()}" if match else None


def is_din_evse_id(value: str) -> bool:
    return isinstance(value, str) and _EVSE_DIN.match(value) is not None


def din_to_iso(value: str) -> str:
    """``+49*8PS*E123456`` -> ``DE*8PS*E123456`` (only when asked to)."""
    match = _EVSE_DIN.match(value) if isinstance(value, str) else None
    if not match:
        raise IdError(f"{value!r} is not a DIN EVSE id such as +49*8PS*E123456")
    region = phonenumbers.region_code_for_country_code(int(match["calling"]))
    if not region or region == "ZZ":
        raise IdError(f"{value!r}: +{match['calling']} is not a country calling code")
    iso = f"{region}*{match['operator'].upper()}*E{match['local']}"
    if not is_evse_id(iso):
        raise IdError(f"{value!r} has no valid ISO form ({iso!r} is too long)")
    return iso


def normalise_evse_id(value: str) -> str:
    """A key for comparing EVSE ids: upper case, separators dropped."""
    return value.replace("*", "").upper()


def new_partner_identifier() -> str:
    """A cryptographically random partner identifier (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def check_partner_identifier(value: str) -> str:
    """Raise IdError unless ``value`` is random-looking and at least 16 characters long."""
    if not isinstance(value, str) or len(value) < PARTNER_ID_MIN_LENGTH:
        raise IdError(f"a partner identifier must be at least {PARTNER_ID_MIN_LENGTH} characters long")
    if not _PARTNER_CHARS.match(value):
        raise IdError("a partner identifier may hold only letters, digits and - _ . ~")
    if len(set(value)) < 8:
        raise IdError("a partner identifier must be hard to guess: use a random string")
    return value
