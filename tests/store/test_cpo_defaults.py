"""CPO defaults: values for fields a CPO's files lack, set once, used by every import path."""

import json

import pytest
from typer.testing import CliRunner

from oioi_onboard.cli import app as cli_app
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.queries import get_cpo
from oioi_onboard.store.registry import RegistrationError, register_cpo, update_cpo
from tests.helpers.sheet_files import BNETZA_SLICE

PHONE = "+49 228 14 0"


def _cli(*args: str):
    return CliRunner().invoke(cli_app, [str(a) for a in args])


def test_defaults_are_checked_stored_and_changed(db):
    with db() as session:
        with pytest.raises(RegistrationError) as refused:
            register_cpo(session, actor=SYSTEM, name="Bad", operator_ids="DE*BAD", endpoint="staging", api_key=None,
                         defaults={"station_id": "S1", "country": "XX"})
        assert "'station_id' cannot have a default" in refused.value.errors["defaults"]
        assert "'XX' is not an ISO 3166-1 alpha-2 code" in refused.value.errors["defaults"]
        cpo, _ = register_cpo(session, actor=SYSTEM, name="Good", operator_ids="DE*GOO", endpoint="staging",
                              api_key=None, defaults={"phone": f"  {PHONE} ", "country": "de", "web": ""})
        assert cpo.defaults == {"phone": PHONE, "country": "DE"}  # trimmed, upper case, empty dropped
        update_cpo(session, actor=SYSTEM, cpo_id=cpo.id, defaults={"phone": PHONE})
        assert get_cpo(session, actor=SYSTEM, cpo_id=cpo.id).defaults == {"phone": PHONE}


def test_the_register_validates_with_the_cpos_default_phone(db, tmp_path):
    operators = tmp_path / "operators.csv"
    operators.write_text("operator name;operator id\nMVV Energie AG;DE*MVV\n", encoding="utf-8")
    result = _cli("cpo", "add", "--name", "MVV", "--operator-id", "DE*MVV", "--endpoint", "staging")
    assert result.exit_code == 0, result.output

    def mvv_errors() -> tuple[set, str]:
        run = _cli("validate", BNETZA_SLICE, "--profile", "bnetza", "--operators", operators, "--cpo", "MVV", "--json")
        issues = json.loads(run.stdout)["issues"]
        return {i["column"] for i in issues if i["row"] in (7, 8) and i["severity"] == "error"}, run.stderr

    errors, _ = mvv_errors()
    assert errors == {"phone"}  # the register has no phone column

    result = _cli("cpo", "edit", "MVV", "--default", f"phone={PHONE}")
    assert result.exit_code == 0, result.output
    assert f"phone={PHONE}" in result.stdout
    errors, stderr = mvv_errors()
    assert errors == set()
    assert f"phone: empty cells from the CPO's defaults ('{PHONE}')" in stderr

    listed = json.loads(_cli("cpo", "list", "--json").stdout)
    assert [c["defaults"] for c in listed if c["name"] == "MVV"] == [{"phone": PHONE}]

    # --set wins over the default for one run; FIELD= removes a default.
    run = _cli("validate", BNETZA_SLICE, "--profile", "bnetza", "--operators", operators, "--cpo", "MVV",
               "--set", "phone=not a phone", "--json")
    assert any(i["column"] == "phone" and i["row"] == 7 for i in json.loads(run.stdout)["issues"])
    assert _cli("cpo", "edit", "MVV", "--default", "phone=").exit_code == 0
    assert mvv_errors()[0] == {"phone"}


def test_cpo_add_refuses_a_default_for_an_unknown_field(db):
    result = _cli("cpo", "add", "--name", "X", "--operator-id", "DE*XXX", "--endpoint", "staging",
                  "--default", "colour=blue")
    assert result.exit_code == 2 and "'colour' is not a template column" in result.stderr
