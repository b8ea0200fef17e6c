"""The relay against hostile and careless clients (issue 21): every item judged on its own, a depth limit
on JSON, the body counted as it arrives behind the token check, slow bodies cut off, and never a traceback."""

import logging
import select
import time
from contextlib import contextmanager

import httpx
import pytest
from sqlmodel import select as sql_select

from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.db import migrate, session_scope
from oioi_onboard.store.models import Connector, StatusEvent
from oioi_onboard.sync import relay as relay_module
from oioi_onboard.sync import request_body, tokens
from oioi_onboard.testing.stations import evse
from oioi_onboard.testing.store import make_cpo, store_status_station
from tests.helpers.raw_http import answer_of, connected, head
from tests.helpers.statuses import running_relay

STATUSES = "/v1/statuses"


@pytest.fixture
def token():
    migrate()
    with session_scope() as session:
        cpo = make_cpo(session, name="Relay CPO")
        store_status_station(session, cpo.id, 1, acked=True)
        store_status_station(session, cpo.id, 2, acked=True)
        return tokens.create_token(session, actor=SYSTEM, cpo_id=cpo.id, label="back end")


class LogLines(logging.Handler):
    """Every record of the relay process (our loggers and uvicorn's), formatted with any traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        if not record.name.startswith(("httpx", "httpcore")):  # the test's own client, not the relay
            self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def relay_with_log(**options):
    """The relay in a thread, and what it logs; uvicorn's loggers do not propagate, so the handler goes on
    them as well, after the server configured them."""
    with running_relay(**options) as url:
        lines = LogLines()
        loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
        for logger in loggers:
            logger.addHandler(lines)
        try:
            yield url, lines
        finally:
            for logger in loggers:
                logger.removeHandler(lines)


@pytest.fixture
def relay():
    with relay_with_log() as (url, lines):
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, lines


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- 1: one bad timestamp


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
def test_an_overflowing_timestamp_is_refused_for_its_item_and_the_rest_recorded(token, relay, moment):
    client, log = relay
    answer = client.post(STATUSES, headers=bearer(token), json=[
        {"evse_id": evse(1), "status": "Occupied"},
        {"evse_id": evse(2), "status": "Reserved", "timestamp": moment},
    ])
    assert answer.status_code == 207, answer.text
    assert "retry-after" not in answer.headers
    good, bad = answer.json()["results"]
    assert good["ok"] and good["delivery"] == "pending"
    assert not bad["ok"] and moment in bad["error"] and "outside" in bad["error"]
    with session_scope() as session:
        statuses = dict(session.exec(sql_select(Connector.evse_id, Connector.status)).all())
        assert session.exec(sql_select(StatusEvent.evse_id)).all() == [evse(1)]
    assert statuses[evse(1)] == "Occupied" and statuses[evse(2)] == "Unknown"
    assert "Traceback" not in log.text()


def test_a_timestamp_far_in_the_past_is_refused_for_its_item(token, relay):
    client, _ = relay
    answer = client.post(STATUSES, headers=bearer(token), json=[
        {"evse_id": evse(1), "status": "Occupied", "timestamp": "1970-01-01T00:00:00Z"},
        {"evse_id": evse(2), "status": "Occupied", "timestamp": "2026-01-01T12:00:00Z"},
    ])
    assert answer.status_code == 207
    far, recent = answer.json()["results"]
    assert not far["ok"] and "before" in far["error"] and recent["ok"]


# --------------------------------------------------------------------------- 2: deep nesting


def test_deeply_nested_json_is_a_400_and_no_traceback(token, relay):
    client, log = relay
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = client.post(STATUSES, content=deep, headers={**bearer(token), "Content-Type": "application/json"})
    assert answer.status_code == 400 and "nest" in answer.json()["error"]
    unclosed = client.post(STATUSES, content=b"[" * 100_000, headers=bearer(token))
    assert unclosed.status_code == 400
    objects = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    assert client.post(STATUSES, content=objects, headers=bearer(token)).status_code == 400
    # Without a valid token the body is not even read.
    assert client.post(STATUSES, content=deep, headers=bearer("nope")).status_code == 401
    assert "Traceback" not in log.text()


def test_brackets_inside_strings_do_not_count_as_nesting(token, relay):
    client, _ = relay
    body = [{"evse_id": evse(1), "status": "Occupied", "note": "[" * 500 + '\\"{' * 100}]
    answer = client.post(STATUSES, json=body, headers=bearer(token))
    assert answer.status_code == 200, answer.text


# --------------------------------------------------------------------------- 3: the body behind the token


def _head(token: str, *, length: int | None = None) -> bytes:
    return head("POST", STATUSES, f"Bearer {token}", length=length)


def test_a_chunked_body_with_a_bad_token_is_refused_before_it_is_read(token):
    with relay_with_log() as (url, _):
        for bad in ("nope", tokens.PREFIX + "x" * 43):
            with connected(url) as sock:
                # One chunk of a body that never ends: the answer must not wait for the rest.
                sock.sendall(_head(bad) + b"10000\r\n" + b"[" * 0x10000 + b"\r\n")
                status, data = answer_of(sock, timeout=5)
                assert status == 401 and b"connection: close" in data.lower()


def test_a_chunked_body_over_the_limit_is_cut_off_with_413_having_read_little(token):
    with relay_with_log() as (url, log), connected(url) as sock:
        sock.sendall(_head(token))
        piece = b"100000\r\n" + b" " * 0x100000 + b"\r\n"  # 1 MiB chunks
        sent, total = 0, 256 * 0x100000
        sock.setblocking(False)
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable or not writable:
                break
            try:
                sent += sock.send(piece[sent % len(piece):])
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        status, data = answer_of(sock, timeout=10)
        assert status == 413 and b"connection: close" in data.lower()
        # The relay drains a little past the limit so that a careless client reads the answer, then closes:
        # far less than the 256 MiB on offer reached it (what is left is the kernel's socket buffers).
        assert sent < relay_module.MAX_BYTES * request_body.DRAIN_FACTOR + 32 * 0x100000
        assert "Traceback" not in log.text()


def test_a_declared_length_over_the_limit_is_refused_without_reading(token):
    with relay_with_log() as (url, _), connected(url) as sock:
        sock.sendall(_head(token, length=10**9) + b"[" * 1000)
        status, _ = answer_of(sock, timeout=5)
        assert status == 413


def test_a_body_that_trickles_in_is_cut_off_with_408(token):
    with relay_with_log(body_seconds=1.5, min_bytes_per_second=1000) as (url, log):
        with connected(url) as sock:  # too slow from the start: 10 bytes, then nothing
            started = time.monotonic()
            sock.sendall(_head(token, length=500) + b'[{"evse_i')
            status, data = answer_of(sock, timeout=10)
            assert status == 408 and b"connection: close" in data.lower()
            assert time.monotonic() - started < 5
        with connected(url) as sock:  # fast enough per byte, but never done: the time limit
            sock.sendall(_head(token))
            started = time.monotonic()
            while True:
                readable, _, _ = select.select([sock], [], [], 0.05)
                if readable or time.monotonic() - started > 10:
                    break
                sock.sendall(b"100\r\n" + b" " * 0x100 + b"\r\n")
            status, _ = answer_of(sock, timeout=10)
            assert status == 408 and 1.4 < time.monotonic() - started < 5
        assert "Traceback" not in log.text()


# --------------------------------------------------------------------------- never a traceback


def test_an_unexpected_error_is_one_log_line_with_a_request_id(token, monkeypatch):
    from oioi_onboard.sync import status_ingest

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(status_ingest, "record_statuses", broken)
    with relay_with_log() as (url, log):
        answer = httpx.post(url + STATUSES, json=[{"evse_id": evse(1), "status": "Occupied"}], headers=bearer(token),
                            timeout=10)
    assert answer.status_code == 500
    request_id = answer.json()["request_id"]
    assert request_id and answer.headers["x-request-id"] == request_id
    said = [line for line in log.lines if request_id in line]
    assert len(said) == 1 and "KeyError" in said[0], log.text()
    assert "Traceback" not in log.text()
