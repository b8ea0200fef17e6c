"""``oioi-onboard template``: the station template written where the user asks."""

from typer.testing import CliRunner

from oioi_onboard.cli import app as cli_app
from oioi_onboard.sheets.canonical import NAMES
from oioi_onboard.sheets.reader import read_sheet
from oioi_onboard.sheets.template import template_csv

runner = CliRunner()


def test_template_writes_the_csv_and_the_xlsx(tmp_path):
    folder = tmp_path / "new folder"
    result = runner.invoke(cli_app, ["template", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "template.csv").read_bytes() == template_csv()
    written = read_sheet((folder / "template.xlsx").read_bytes(), "template.xlsx")
    assert written.columns == NAMES and len(written.frame) == 2


def test_template_into_a_file_is_one_line_and_exit_2(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    result = runner.invoke(cli_app, ["template", str(taken)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {taken} cannot be written")
    assert taken.read_text() == "not a folder"
