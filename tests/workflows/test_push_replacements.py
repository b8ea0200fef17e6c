"""A station whose connectors change more than once lives on at the platform under one id at a time.

The spec forbids changing a station's connectors: the push soft-deletes the id the platform holds and pushes
the station under ``<id>-N``. The file keeps naming the station by its own id; each later upload is compared
with the id that carries it at the platform. ``push_file`` in process against the real sandbox.
"""

from __future__ import annotations

import pytest

from oioi_onboard.testing.sandbox import running_sandbox
from oioi_onboard.workflows.push import Credentials, push_file
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a real sandbox process and real pushes

KEY = "replacements-key-51e0"
STATION = "DE*DMO*SMA0001"


def _file(tmp_path, name: str, replace: tuple[str, str] | None = None):
    lines = (ROOT / "sample_data" / "demo_network.csv").read_text(encoding="utf-8").splitlines()[:7]
    text = "\n".join(lines) + "\n"
    for old, new in [replace] if replace else []:
        text = text.replace(old, new)
    path = tmp_path / f"{name}.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_second_connector_change_replaces_the_live_replacement_and_later_uploads_follow_it(tmp_path, db):
    with running_sandbox(tmp_path / "sb", api_keys=(KEY,)) as sandbox:
        credentials = Credentials(endpoint=sandbox.url, api_key=KEY, partner_identifier=sandbox.partner_id)

        def push(file):  # noqa: ANN001, ANN202
            return push_file(file=file, credentials=credentials, yes=True, say=lambda line: None)

        def live() -> dict[str, set[str]]:  # the platform's live stations of the file's first one: their EVSE ids
            return {s["station_id"]: {c["id"] for c in s["station"]["connectors"]} for s in sandbox.stations()
                    if s["station_id"].startswith(STATION) and not s["deleted"]}

        assert push(_file(tmp_path, "v1")).ok
        assert live() == {STATION: {"DE*DMO*EMA0001*1", "DE*DMO*EMA0001*2"}}
        second = push(_file(tmp_path, "v2", ("EMA0001*1", "EMA0001*9")))
        assert second.ok and (second.acknowledged, second.stations_in_file) == (3, 3), second
        assert live() == {f"{STATION}-2": {"DE*DMO*EMA0001*9", "DE*DMO*EMA0001*2"}}

        third = push(_file(tmp_path, "v3", ("EMA0001*1", "EMA0001*8")))
        assert third.ok and (third.acknowledged, third.stations_in_file) == (3, 3), third
        assert live() == {f"{STATION}-3": {"DE*DMO*EMA0001*8", "DE*DMO*EMA0001*2"}}
        assert third.counts.get("connectors_changed") == 1 and third.requests == 2  # -2 deleted, -3 posted

        again = push(_file(tmp_path, "v3-again", ("EMA0001*1", "EMA0001*8")))
        assert again.nothing_to_push and (again.acknowledged, again.stations_in_file) == (3, 3), again

        renamed = _file(tmp_path, "v4", ("EMA0001*1", "EMA0001*8"))
        renamed.write_text(renamed.read_text(encoding="utf-8").replace(
            "Parkhaus Augustaanlage,", "Parkhaus Augustaanlage Nord,"), encoding="utf-8")
        fourth = push(renamed)
        assert fourth.ok and fourth.requests == 1, fourth  # a change of name: the live replacement, posted again
        assert live() == {f"{STATION}-3": {"DE*DMO*EMA0001*8", "DE*DMO*EMA0001*2"}}
        assert {s["station_id"]: s["station"]["name"] for s in sandbox.stations()}[f"{STATION}-3"] == \
            "Parkhaus Augustaanlage Nord"
