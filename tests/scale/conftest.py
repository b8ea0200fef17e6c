from tests.helpers.postgres import postgres_url  # noqa: F401 - a fixture for this folder
