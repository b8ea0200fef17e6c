"""The words of the CPO files' languages, kept as data (sheets/header_synonyms.json, sheets/value_words.json)."""

import csv
import io

import pytest

from oioi_onboard.oioi.vocabulary import ConnectorType
from oioi_onboard.sheets import aliases, languages
from oioi_onboard.sheets.canonical import COLUMNS, NAMES
from oioi_onboard.sheets.countries import country_code
from oioi_onboard.sheets.hours import split_hours
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.suggest import suggest_mapping

EU_LANGUAGES = ["en", "de", "fr", "nl", "it", "es", "pt", "pl", "cs", "sv", "da", "fi", "no", "hu", "ro"]
# Rows of the header table that are fields (or several fields in one column, or the operator's name):
# each has a name in every language. Commune codes and look-alikes are listed where they are known.
FIELD_ROWS = [row for row in languages.HEADER_ROWS if row not in ("commune_code", "not_a_field")]


def test_the_languages_are_those_cpo_files_come_in():
    assert set(EU_LANGUAGES) <= set(languages.LANGUAGES)


def test_the_header_table_has_a_row_for_every_field_and_nothing_unknown():
    rows = set(languages.HEADER_ROWS)
    assert set(NAMES) <= rows
    for row in rows - set(NAMES):
        assert row in ("commune_code", "not_a_field", "operator_name") or set(row.split("+")) <= set(NAMES), row


@pytest.mark.parametrize("row", FIELD_ROWS)
def test_each_field_has_a_synonym_in_each_language(row):
    missing = [language for language in languages.LANGUAGES if not languages.HEADER_ROWS[row].get(language)]
    assert not missing, f"{row} has no header name in {missing}"


@pytest.mark.parametrize("language", EU_LANGUAGES)
def test_each_fields_first_name_in_a_language_is_suggested_for_it(language):
    """A file whose headers are the first name of each field in one language maps every field to its column."""
    headers = [languages.HEADER_ROWS[c.name][language][0] for c in COLUMNS]
    assert len({aliases.fold(h) for h in headers}) == len(headers), "two fields share a first name"
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows([headers, [c.example for c in COLUMNS]])
    raw = read_sheet(buffer.getvalue().encode("utf-8"), f"{language}.csv")
    columns = suggest_mapping(raw).mapping.columns
    wrong = {c.name: columns.get(c.name) for c, header in zip(COLUMNS, headers, strict=True)
             if columns.get(c.name) != header}
    assert not wrong, wrong


def test_yes_and_no_in_every_language():
    for language in EU_LANGUAGES:
        assert languages.words("yes", language) and languages.words("no", language), language
    yes, no = languages.words("yes"), languages.words("no")
    assert not yes & no
    for word in ["sì", "sí", "sim", "tak", "ja", "ano", "kyllä", "igen", "da", "oui", "Sì", "SIM"]:
        assert aliases.boolean_text(word) == "true", word
    for word in ["no", "não", "nie", "nej", "nee", "ne", "ei", "nem", "nu", "non", "nein", "NEJ"]:
        assert aliases.boolean_text(word) == "false", word


@pytest.mark.parametrize(("found", "oioi"), [
    ("Tipo 2", ConnectorType.TYPE2), ("Typ 2", ConnectorType.TYPE2), ("Tipo 2 (Mennekes)", ConnectorType.TYPE2),
    ("CCS2", ConnectorType.COMBO), ("CCS Combo 2", ConnectorType.COMBO), ("Combo 2", ConnectorType.COMBO),
    ("Typu 2", ConnectorType.TYPE2), ("Tyyppi 2", ConnectorType.TYPE2), ("2-es típus", ConnectorType.TYPE2),
    ("Presa Tipo 2", ConnectorType.TYPE2), ("cavo Tipo 2", ConnectorType.TYPE2), ("Tipo 3C", ConnectorType.TYPE3),
    ("Toma Tipo 2", ConnectorType.TYPE2), ("Tomada Tipo 2", ConnectorType.TYPE2),
    ("Zásuvka Typ 2", ConnectorType.TYPE2),
])
def test_plug_names_in_the_languages(found, oioi):
    assert aliases.connector_type(found) == oioi.value


@pytest.mark.parametrize(("header", "oioi"), [("Tipo 2", "Type2"), ("Presa CCS", "Combo"), ("Typ 2", "Type2")])
def test_per_plug_headers_in_the_languages(header, oioi):
    assert aliases.plug_type(header) == oioi


@pytest.mark.parametrize(("text", "expected"), [
    ("Lun-Ven 08:00-20:00; Sab 09:00-13:00", ("false", "Mo-Fr 08:00-20:00; Sa 09:00-13:00")),  # it
    ("Lu-Vi 08:00-20:00; Do cerrado", ("false", "Mo-Fr 08:00-20:00")),  # es: "Do" is Sunday here
    ("Pn-Pt 8:00-18:00", ("false", "Mo-Fr 08:00-18:00")),  # pl
    ("Mån-Fre 07:00-19:00", ("false", "Mo-Fr 07:00-19:00")),  # sv
    ("Po-Pá 7:00-19:00", ("false", "Mo-Fr 07:00-19:00")),  # cs
    ("Mo-Fr 08:00-18:00", ("false", "Mo-Fr 08:00-18:00")),
    ("sempre aperto", ("true", "")), ("całodobowo", ("true", "")), ("dygnet runt", ("true", "")),
    ("nonstop", ("true", "")), ("24/7", ("true", "")),
])
def test_opening_hours_in_the_languages(text, expected):
    assert split_hours(text) == expected


@pytest.mark.parametrize(("name", "code"), [
    ("Italia", "IT"), ("España", "ES"), ("Polska", "PL"), ("Sverige", "SE"), ("Česko", "CZ"), ("Magyarország", "HU"),
    ("România", "RO"), ("Suomi", "FI"), ("Norge", "NO"), ("Danmark", "DK"), ("Nederland", "NL"), ("Deutschland", "DE"),
    ("Niemcy", "DE"), ("Frankreich", "FR"), ("UK", "GB"), ("D", "DE"), ("DEU", "DE"), ("it", "IT"), ("Japan", "JP"),
])
def test_country_names_in_the_languages(name, code):
    assert country_code(name) == code
