from pathlib import Path

import pytest

from tests.data.hostile import make_corpus


@pytest.fixture(scope="session")
def large_files(tmp_path_factory) -> Path:
    """The 50 MB CSV and the zip-bomb XLSX, built once per run (they are not committed)."""
    directory = tmp_path_factory.mktemp("hostile-large")
    make_corpus.write_large(directory)
    return directory
