from tests.helpers.postgres import postgres_url  # noqa: F401 - fixture
