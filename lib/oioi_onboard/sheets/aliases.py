"""Value aliases: the names real files use for connector types and yes/no.

Matching is tolerant of case, spaces, punctuation and umlauts. A value that
matches nothing is returned unchanged, so the validator reports it as found.
The words around a plug's name and yes/no in each language are data
(``sheets.languages``); the plugs' spellings are here.
"""

import functools
import re
import unicodedata

import pandas as pd

from ..oioi.vocabulary import ConnectorType
from . import languages
from .factorize import by_value
from .rules import FALSE_WORDS, TRUE_WORDS

__all__ = [
    "fold", "headers_by_fold", "header_forms", "connector_type", "connector_types", "boolean", "split_types",
    "JUNK_VALUES", "is_junk", "boolean_text", "plug_type", "is_count_header", "PLACEHOLDERS",
]

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})


def fold(text: str) -> str:
    """'AC Steckdose Typ 2' -> 'acsteckdosetyp2': lower case, umlauts spelt out, only letters and digits."""
    text = str(text).translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", text.lower())


def headers_by_fold(headers: list[str]) -> dict[str, str]:
    """Folded header -> the header as the file spells it; the first of duplicated headers wins."""
    found: dict[str, str] = {}
    for header in headers:
        found.setdefault(fold(header), header)
    return found


@functools.lru_cache(maxsize=4096)
def header_forms(header: str) -> tuple[str, ...]:
    """The folded header, and folded without bracketed units: 'Längengrad [DG]' -> 'laengengrad'."""
    forms = [fold(header)]
    bare = re.sub(r"[\[(][^\])]*[\])]", " ", header)
    if bare != header:
        forms.append(fold(bare))
    return tuple(f for f in forms if f)


def _words(text: str) -> list[str]:
    text = str(text).translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    # "Type2" -> "type 2", "CCS2" stays one word via the table below
    return re.findall(r"[a-z]+|[0-9]+", text)


_T = ConnectorType
# Folded spellings -> OIOI name. The 19 names themselves are added below.
_ALIASES: dict[str, str] = {
    # Type 2 (IEC 62196-2 Mennekes)
    "typ2": _T.TYPE2, "type2": _T.TYPE2, "mennekes": _T.TYPE2, "iec621962": _T.TYPE2, "t2": _T.TYPE2,
    "iec621962type2": _T.TYPE2, "mode3type2": _T.TYPE2,
    # Combo (CCS)
    "ccs": _T.COMBO, "ccs2": _T.COMBO, "combo2": _T.COMBO, "combo": _T.COMBO, "ccscombo2": _T.COMBO,
    "ccscombo": _T.COMBO, "combinedchargingsystem": _T.COMBO, "comboccs": _T.COMBO, "ccstype2": _T.COMBO,
    "combotyp2": _T.COMBO,
    "combotype2": _T.COMBO, "typ2combo": _T.COMBO,
    "chademo": _T.CHADEMO,
    "schuko": _T.SCHUKO, "cee74": _T.SCHUKO, "schutzkontakt": _T.SCHUKO, "typef": _T.SCHUKO, "typf": _T.SCHUKO,
    "typ3": _T.TYPE3, "type3": _T.TYPE3, "type3c": _T.TYPE3, "type3a": _T.TYPE3, "scame3": _T.TYPE3,
    "cee3polig": _T.CEE_BLUE, "ceeblau": _T.CEE_BLUE, "cee16a3polig": _T.CEE_BLUE, "ceecamping": _T.CEE_BLUE,
    "cee3pin": _T.CEE_BLUE, "cee3pol": _T.CEE_BLUE,
    "cee5polig": _T.CEE_RED, "ceerot": _T.CEE_RED, "cee5pin": _T.CEE_RED, "cee5pol": _T.CEE_RED,
    "cee16a5polig": _T.CEE_RED, "cee32a5polig": _T.CEE_RED, "drehstrom": _T.CEE_RED, "starkstrom": _T.CEE_RED,
    "cee2polig": _T.CEE_2_POLES, "cee2pol": _T.CEE_2_POLES, "cee2pin": _T.CEE_2_POLES,
    "ceeplus": _T.CEE_PLUS,
    "bs1363": _T.THREE_PIN_SQUARE, "typeg": _T.THREE_PIN_SQUARE, "ukplug": _T.THREE_PIN_SQUARE,
    "3pin": _T.THREE_PIN_SQUARE, "threepinsquare": _T.THREE_PIN_SQUARE,
    "typ1": _T.TYPE1, "type1": _T.TYPE1, "j1772": _T.TYPE1, "sae1772": _T.TYPE1, "saej1772": _T.TYPE1,
    "yazaki": _T.TYPE1,
    "tesla": _T.TESLA, "teslasupercharger": _T.TESLA, "supercharger": _T.TESLA, "teslaroadster": _T.TESLA,
    "scame": _T.SCAME,
    "nema5": _T.NEMA5, "nema515": _T.NEMA5, "nema520": _T.NEMA5,
    "t13": _T.T13, "typej": _T.T13, "sev1011": _T.T13,
    "t15": _T.T15, "t23": _T.T23,
    "marechal": _T.MARECHAL,
    "typee": _T.TYPE_E, "cee75": _T.TYPE_E, "franzoesisch": _T.TYPE_E,
}
_ALIASES.update({fold(t.value): t.value for t in ConnectorType})
_ALIASES = {k: str(v.value if isinstance(v, ConnectorType) else v) for k, v in _ALIASES.items()}

# Words that describe the socket but not its type: "AC Steckdose Typ 2" is "Typ 2", "Presa Tipo 2" is "Tipo 2".
_NOISE = frozenset(w for word in languages.words("plug_noise") for w in _words(word))
# The word "type" in any language: "Tipo 2", "Typu 2", "Tyyppi 2", "2-es típus" name Type 2.
_TYPE_WORDS = frozenset(w for word in languages.words("plug_type_word") for w in _words(word))


def connector_type(value: str) -> str:
    """One connector type as found -> its OIOI name; unknown values unchanged."""
    text = str(value).strip()
    if not text:
        return ""
    key = fold(text)
    if key in _ALIASES:
        return _ALIASES[key]
    words = [w for w in _words(text) if w not in _NOISE]
    joined = "".join(words)
    if joined in _ALIASES:
        return _ALIASES[joined]
    untyped = [w for w in words if w not in _TYPE_WORDS]
    if untyped and len(untyped) < len(words) and "type" + "".join(untyped) in _ALIASES:
        return _ALIASES["type" + "".join(untyped)]
    # "Typ 2 (22 kW)" or "Type 2, 32A": try dropping trailing numbers that are ratings.
    trimmed = re.sub(r"\(.*?\)", " ", text)
    trimmed = re.sub(r"\b\d+(?:[.,]\d+)?\s*(?:kw|a|v)\b", " ", trimmed, flags=re.IGNORECASE)
    if trimmed != text:
        return connector_type(trimmed) if trimmed.strip() else text
    return text


# Words around a plug's name in a per-plug column: "prise_type_2", "Anzahl Typ 2", "has CCS", "CCS count".
_COUNT_WORDS = {"nb", "nbre", "nombre", "anzahl", "anz", "count", "number", "num", "qty", "quantity"}
_PLUG_NOISE = _NOISE | _COUNT_WORDS | {
    "prise", "prises", "has", "avec", "of", "sockets", "plugs", "connectors", "steckdosen", "is", "available",
    "vorhanden", "disponible",
}
# Plug columns that name a plug without an OIOI name: their connectors cannot be sent.
_UNNAMED_PLUGS = {"autre", "autres", "other", "others", "sonstige", "sonstiges", "andere", "mcs"}


def plug_type(header: str) -> str | None:
    """A per-plug column's header -> its OIOI connector name; '' for a plug OIOI has no name for; None: no plug.

    "E/F" is how France's IRVE schema names its domestic socket, which in France
    is type E (the German file would say Schuko).
    """
    words = [w for w in _words(header) if w not in _PLUG_NOISE]
    joined = "".join(words)
    if not joined:
        return None
    untyped = "type" + "".join(w for w in words if w not in _TYPE_WORDS)
    for key in (joined, joined.removeprefix("type"), joined.removeprefix("typ"), untyped):
        if key in _ALIASES and key not in ("type", "typ"):
            return _ALIASES[key]
        if key in ("ef", "typeef"):
            return _T.TYPE_E.value
        if key in _UNNAMED_PLUGS:
            return ""
    return None


def is_count_header(header: str) -> bool:
    """'Anzahl Typ 2', 'nb CCS': the column counts plugs instead of saying yes or no."""
    return bool(set(_words(header)) & _COUNT_WORDS)


JUNK_VALUES = frozenset({"0", "-", "--", "---", "n/a", "na", "k.a.", "ka", "?", "null", "none", "nan", "x"})


# "Not applicable" where an id belongs (France's IRVE files write "Non concerné").
_NOT_APPLICABLE = {"nonconcerne", "nichtzutreffend", "notapplicable", "nonapplicable", "sansobjet", "entfaellt"}
# The same, lower case as written, for whole columns of ids (no folding per distinct id).
PLACEHOLDERS = JUNK_VALUES | {"non concerné", "non concerne", "non-concerné", "nicht zutreffend", "not applicable",
                              "non applicable", "sans objet", "entfällt", "entfaellt", "n.a.", "n. a."}


_DIGIT = re.compile(r"[0-9]")


def is_junk(value: str) -> bool:
    """A placeholder where a value should be ('0', '-', 'n/a', 'k.A.', 'Non concerné')."""
    text = str(value).strip()
    if text.lower() in JUNK_VALUES:
        return True
    # Cheap tests first: this runs on every distinct id of large files, and ids hold digits.
    return len(text) <= 20 and not _DIGIT.search(text) and fold(text) in _NOT_APPLICABLE


_TYPE_SEPARATORS = re.compile(r"\s*(?:[,;|+/]|\bund\b|\band\b|\s&\s)\s*", re.IGNORECASE)


def split_types(value: str) -> list[str]:
    """'AC Steckdose Typ 2, AC Schuko' -> ['AC Steckdose Typ 2', 'AC Schuko'] (pieces as found)."""
    return [piece for piece in _TYPE_SEPARATORS.split(str(value)) if piece and piece.strip()]


def connector_types(values: pd.Series) -> pd.Series:
    """Vectorised connector_type over a column (each distinct value is looked up once)."""
    return by_value(values.astype("object").fillna(""), lambda v: connector_type(str(v)))


def boolean_text(value: str) -> str:
    """One cell: 'ja' -> 'true', 'nein' -> 'false', '' -> '', anything else unchanged."""
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return "true"
    if word in FALSE_WORDS:
        return "false"
    return "" if not word else str(value)


def boolean(values: pd.Series) -> pd.Series:
    """yes/no/ja/nein/true/false/1/0/x/'' -> 'true'/'false'/''; anything else unchanged."""
    values = values.astype("object").fillna("").map(str)
    lowered = values.str.strip().str.lower()
    out = values.copy()
    out[lowered.isin(TRUE_WORDS)] = "true"
    out[lowered.isin(FALSE_WORDS)] = "false"
    out[lowered == ""] = ""
    return out
