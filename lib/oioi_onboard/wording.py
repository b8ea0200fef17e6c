"""How counts read in messages, the same in the library, the command line and the pages."""

__all__ = ["counted"]


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 station``, ``2,000 stations``: a count with its noun (``plural`` where it is not noun + s)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
