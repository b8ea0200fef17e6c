"""Builders for the tests and the benchmarks, never used by the app or the command.

- ``stations``: station objects (the station-post ``station``);
- ``store``: CPOs, user accounts, actors and stations written into the store;
- ``sheets``: canonical station frames, a generated network of rows, operator tables;
- ``sandbox``: the real ``oioi-onboard sandbox`` process on a free port;
- ``ocpi_sandbox``: the real ``oioi-onboard ocpi-sandbox`` process (an OCPI CPO back end) on a free port;
- ``csms``: a small OCPI back end on loopback, for the receiver's credentials handshake.
- ``peak``: the peak memory of an ``oioi-onboard`` command run as a process of its own.
- ``processes``: ``oioi-onboard`` commands started as processes for the benchmarks, and stopped.

tests/ and bench/ import these modules directly; pytest fixtures built on them
live in tests/conftest.py.
"""

__all__: list[str] = []  # nothing here is for the app or the command
