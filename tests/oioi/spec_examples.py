"""The request examples of the spec pages, read from the copied .rst files."""

import json
import re

from tests.conftest import SPEC


def request_example(page: str) -> dict:
    text = (SPEC / page).read_text(encoding="utf-8")
    block = text.split("Request::", 1)[1].split("Response", 1)[0]
    body = "\n".join(line[4:] for line in block.splitlines() if line.startswith("    ") or not line.strip())
    return json.loads(re.sub(r"\s+$", "", body))
