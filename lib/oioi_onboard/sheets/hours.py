"""Opening hours as files write them -> "open 24 hours" and OIOI's open-hour notes.

Files hold one column for both: "24/7", "24h", "rund um die Uhr", or
OpenStreetMap ``opening_hours`` such as France's IRVE files use
("Mo-Fr 08:00-12:00,Mo-Fr 14:00-18:00,Th 08:00-18:00"). The canonical
columns want ``is_open_24`` (yes/no) and ``open_hours`` in the template's form
("Mo-Fr 08:00-12:00, 14:00-18:00; Th 08:00-18:00"). Days may be written in any
language of ``sheets.languages`` ("Lun-Ven 08:00-20:00", "Pn-Pt 8:00-18:00").
Text that is not understood is kept as found, so the validator shows it to the user.
"""

import re

from . import aliases, languages

__all__ = ["split_hours", "osm_to_open_hours"]

_DAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
# "Always open" as numbers write it (any language), and in words (sheets.languages).
_ALWAYS = {
    "247", "724", "24h", "24h7", "24h7j", "24h24", "24h247j", "24h247j7", "2424", "24hours", "open24hours", "open247",
    "mosu0000-2400",
} | {aliases.fold(words) for words in languages.words("always_open")}
_DAY_NAMES = languages.day_names()
_CLOSED = {aliases.fold(word) for word in languages.words("closed")}
_LETTERS = re.compile(r"[^\W\d_]+")
_TIME = r"(?:[01]?[0-9]|2[0-4]):[0-5][0-9]"
_RANGE = re.compile(rf"^\s*({_TIME})\s*-\s*({_TIME})\s*$")
_DAY_SPEC = re.compile(r"^(?:Mo|Tu|We|Th|Fr|Sa|Su)(?:\s*-\s*(?:Mo|Tu|We|Th|Fr|Sa|Su))?"
                       r"(?:\s*,\s*(?:Mo|Tu|We|Th|Fr|Sa|Su)(?:\s*-\s*(?:Mo|Tu|We|Th|Fr|Sa|Su))?)*$")
# "," after a time and before a day separates rules: "Mo-Fr 08:00-12:00,Th 14:00-18:00" (not "Mo,We").
_RULE_BREAK = re.compile(r"(?<=[0-9])\s*,\s*(?=(?:Mo|Tu|We|Th|Fr|Sa|Su)\b)")


def _time(text: str) -> str:
    hours, minutes = text.split(":")
    return f"{int(hours):02d}:{minutes}"


def _day_groups(spec: str) -> list[tuple[str, str]]:
    """'Mo-Fr,Su' -> [('Mo', 'Fr'), ('Su', 'Su')]."""
    groups = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        groups.append((first.strip(), (last or first).strip()))
    return groups


def _rules(text: str) -> list[tuple[list[tuple[str, str]], list[str]]] | None:
    """OSM rules -> [(day groups, ['08:00-12:00', ...])]; None when something is not understood."""
    rules = []
    for chunk in filter(str.strip, re.split(r";", text)):
        for rule in filter(str.strip, _RULE_BREAK.split(chunk.strip())):
            rule = rule.strip()
            match = re.match(r"^((?:Mo|Tu|We|Th|Fr|Sa|Su)[A-Za-z,\s-]*?)\s+(\S.*)$", rule)
            days, times = (match[1], match[2]) if match and _DAY_SPEC.match(match[1].strip()) else ("Mo-Su", rule)
            if times.strip().lower() in ("off", "closed"):
                continue  # a closed day is simply not listed
            ranges = []
            for piece in times.split(","):
                found = _RANGE.match(piece)
                if not found:
                    return None
                ranges.append(f"{_time(found[1])}-{_time(found[2])}")
            rules.append((_day_groups(days.strip()), ranges))
    return rules


def _in_osm_days(text: str) -> str:
    """'Lun-Ven 08:00-20:00; Dom chiuso' -> 'Mo-Fr 08:00-20:00; Su off': the days of the first language
    that names every word of the text (OSM's own first); the text unchanged when none does."""
    found = _LETTERS.findall(text)
    if all(word in _DAYS or word.lower() == "off" for word in found):
        return text
    for names in _DAY_NAMES.values():
        if all(word.lower() in names or aliases.fold(word) in _CLOSED for word in found):
            return _LETTERS.sub(lambda m, names=names: names.get(m[0].lower(), "off"), text)
    return text


def osm_to_open_hours(text: str) -> str | None:
    """OSM opening_hours -> the template's form; None when it is not understood (or names no hours)."""
    rules = _rules(_in_osm_days(text))
    if not rules:
        return None
    periods: dict[tuple[str, str], list[str]] = {}
    for groups, ranges in rules:
        for group in groups:
            periods.setdefault(group, []).extend(r for r in ranges if r not in periods.get(group, []))
    return "; ".join(f"{first if first == last else f'{first}-{last}'} {', '.join(ranges)}"
                     for (first, last), ranges in periods.items())


def _always_open(text: str, converted: str | None) -> bool:
    if aliases.fold(text) in _ALWAYS:
        return True
    # Every day, all day: "Mo-Su 00:00-24:00" or "00:00-24:00".
    return converted in ("Mo-Su 00:00-24:00", "Mo-Su 00:00-23:59")


def split_hours(text: str) -> tuple[str, str]:
    """One cell -> (is_open_24, open_hours): 'true'/'false'/'' and the hours in the template's form."""
    text = str(text).strip()
    if not text:
        return "", ""
    flag = aliases.boolean_text(text)
    if flag in ("true", "false"):
        return flag, ""  # a yes/no column chosen for both
    converted = osm_to_open_hours(text)
    if _always_open(text, converted):
        return "true", ""
    return "false", converted or text
