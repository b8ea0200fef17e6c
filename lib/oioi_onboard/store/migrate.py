"""Alembic, driven from code so that every command can upgrade by itself."""

from pathlib import Path

from sqlmodel import SQLModel

from . import models  # noqa: F401 - registers the tables

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(url: str) -> None:
    # Placeholder until the alembic environment exists: create what is missing.
    from .db import get_engine

    SQLModel.metadata.create_all(get_engine(url))
