"""The words CPO files use, in the languages they come in, kept as data beside this module.

``header_synonyms.json`` is one table, field x language: the header names files
use for each canonical field, and a few more rows (columns that hold several
fields, such as "zip+city"; an operator's name; commune codes; headers that
look like a field but hold something else). ``value_words.json`` holds words
in cells: yes and no, the word for a plug's "type" and the words around a
plug's name, "always open", "closed", and the days of the week.

Both are read once, when this module is imported. Words are as people write
them; matching folds them (``sheets.aliases.fold``).
"""

import json
from pathlib import Path

__all__ = ["LANGUAGES", "HEADER_ROWS", "header_synonyms", "words", "day_names", "country_aliases"]

_HERE = Path(__file__).resolve().parent
_HEADERS = json.loads((_HERE / "header_synonyms.json").read_text(encoding="utf-8"))
_VALUES = json.loads((_HERE / "value_words.json").read_text(encoding="utf-8"))

LANGUAGES: tuple[str, ...] = tuple(_HEADERS["languages"])
HEADER_ROWS: dict[str, dict[str, list[str]]] = _HEADERS["fields"]  # row -> language -> synonyms


def header_synonyms(row: str) -> list[str]:
    """Every language's names for one row of the header table, in the table's order, each once."""
    return list(dict.fromkeys(name for language in LANGUAGES for name in HEADER_ROWS[row].get(language, [])))


def words(kind: str, language: str | None = None) -> frozenset[str]:
    """The words of one kind ("yes", "no", "plug_type_word", "plug_noise", "always_open", "closed"),
    lower case as written: of one language, or of every language."""
    chosen = LANGUAGES if language is None else (language,)
    return frozenset(word.lower() for each in chosen for word in _VALUES[kind].get(each, []))


def day_names() -> dict[str, dict[str, str]]:
    """language -> a day's name or abbreviation (lower case) -> its OpenStreetMap name ("Mo" .. "Su")."""
    return {language: {name.lower(): day for day, names in table.items() for name in names}
            for language, table in _VALUES["days"].items()}


def country_aliases() -> dict[str, list[str]]:
    """ISO code -> names files use for the country that the ISO tables do not list ("UK", "England", "D")."""
    return _VALUES["country_aliases"]
