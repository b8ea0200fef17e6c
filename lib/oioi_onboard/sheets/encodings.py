"""Which text encoding a CSV without a byte order mark is in: UTF-8, else the Windows code page of the country
the file names (``candidates``), then the common ones. Only the order of the attempts is decided here; the
reader decodes.
"""

import re
from collections import Counter
from collections.abc import Iterator

from ..oioi import ids as oioi_ids

__all__ = ["NAMES", "candidates"]

# A file that is not UTF-8 is a Windows export in its country's code page, and its EVSE ids say the country
# (they start with its ISO code), or else its phone numbers and domains. Western Europe's is cp1252; the
# others read as cp1252 or Latin-1 turn "Łódź" into "£ódŸ" without a decoding error.
_CODE_PAGES = {
    **dict.fromkeys(("AL", "BA", "CZ", "HR", "HU", "ME", "PL", "RO", "RS", "SI", "SK"), "cp1250"),
    **dict.fromkeys(("BG", "BY", "MK", "UA"), "cp1251"),
    **dict.fromkeys(("CY", "GR"), "cp1253"),
    "TR": "cp1254",
    **dict.fromkeys(("EE", "LT", "LV"), "cp1257"),
}
NAMES = {
    "utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252",
    "cp1250": "Windows-1250 (Central European)", "cp1251": "Windows-1251 (Cyrillic)",
    "cp1253": "Windows-1253 (Greek)", "cp1254": "Windows-1254 (Turkish)", "cp1257": "Windows-1257 (Baltic)",
    "latin-1": "Latin-1",
}
_EVSE_IDS = re.compile(rb"(?<![A-Za-z0-9*])" + oioi_ids.EVSE_ID_PATTERN.encode() + rb"(?![A-Za-z0-9*])")
# A file without EVSE ids still names its country in phone numbers and web or mail addresses.
_CALLING_CODES = {
    "48": "PL", "420": "CZ", "421": "SK", "36": "HU", "40": "RO", "385": "HR", "386": "SI", "381": "RS",
    "387": "BA", "382": "ME", "355": "AL", "359": "BG", "380": "UA", "375": "BY", "389": "MK", "30": "GR",
    "357": "CY", "90": "TR", "372": "EE", "370": "LT", "371": "LV",
    "49": "DE", "33": "FR", "39": "IT", "34": "ES", "31": "NL", "32": "BE", "43": "AT", "41": "CH", "44": "GB",
    "45": "DK", "46": "SE", "47": "NO", "351": "PT", "352": "LU", "353": "IE", "358": "FI",
}
_PHONES = re.compile(rb"(?:\+|(?<![\d.,])00)(" + b"|".join(
    code.encode() for code in sorted(_CALLING_CODES, key=len, reverse=True)) + rb")[ \-/(]{0,2}\d")
_DOMAINS = re.compile(rb"[A-Za-z0-9-]\.([A-Za-z]{2})(?![A-Za-z0-9.-])")
_WESTERN = {"DE", "FR", "IT", "ES", "NL", "BE", "AT", "CH", "GB", "UK", "DK", "SE", "NO", "PT", "LU", "IE", "FI"}


def _countries(sample: bytes) -> Counter:
    """The countries a file's start names: by its EVSE ids, else by its phone numbers and domains."""
    countries = Counter(match[:2].decode().upper() for match in _EVSE_IDS.findall(sample))
    if not countries:
        countries.update(_CALLING_CODES[code.decode()] for code in _PHONES.findall(sample))
        countries.update(country for match in _DOMAINS.findall(sample)
                         if (country := match.decode().upper()) in _CODE_PAGES or country in _WESTERN)
    return countries


def candidates(data: bytes) -> Iterator[str]:
    """The encodings to try, in order, for a file without a byte order mark."""
    yield "utf-8"
    # Only a file that is not UTF-8 is searched: the code page of the country it names most near its start.
    # cp1250 before Latin-1: bytes cp1252 leaves undefined are letters there, C1 control codes in Latin-1.
    code_pages = Counter()
    for country, count in _countries(data[:1 << 16]).items():
        code_pages[_CODE_PAGES.get(country, "cp1252")] += count
    code_page = code_pages.most_common(1)[0][0] if code_pages else None
    yield from dict.fromkeys([code_page or "cp1252", "cp1252", "cp1250", "latin-1"])
