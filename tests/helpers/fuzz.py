"""Hostile request bodies, generated from a seed, and a check that an endpoint answers each of them sanely.

    outcome = fuzz(url + "/v1/statuses", {"Authorization": f"Bearer {token}"}, seed=21, count=2000)
    assert outcome.failures == []

Any JSON-over-HTTP route of ours can be checked so (the relay's statuses, the OCPI receiver's routes): the
bodies are random JSON shapes, wrong types, huge strings, control characters, broken UTF-8 and JSON, deep
nesting and dates that overflow, many of them shaped like status items so that they get past the
outer checks. The same seed gives the same bodies.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

DATES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "0000-00-00T00:00:00Z", "9999-12-31T24:00:00Z",
         "2024-02-30T12:00:00Z", "1970-01-01T00:00:00Z", "2024-05-01T12:00:00+25:00", "2024-05-01", "12:00",
         "2024-05-01T12:00:00.9999999999Z", "+002024-05-01T12:00:00Z", "2024-W18-3", "now", "", " ",
         "2024-05-01T12:00:00\u0000Z", "9" * 400]
TEXTS = ["", " ", "\u0000", "\u0001\u001f\u007f", "\ud800", "\udfff\ud800", "\u202e\u2066", "\ufeff", "🔌" * 50,
         "DE*8PS*E000011", "+49*8PS*E000011", "de*8ps*e000011", "DE*8PS*E" + "1" * 31, "Available", "available ",
         "Charging", "null", "NaN", "'; DROP TABLE connector; --", "%s%n", "../../etc/passwd", "<script>"]
NUMBERS = [0, -1, 2**63, -(2**63) - 1, 1e308, -1e-308, 0.1, 10**30]


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(TEXTS)
    if kind == 1:
        return rng.choice(DATES)
    if kind == 2:
        return rng.choice(NUMBERS)
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return "".join(chr(rng.choice([rng.randrange(0, 0x20), rng.randrange(0x20, 0x7f), rng.randrange(0x80, 0x3000)]))
                       for _ in range(rng.randrange(0, 40)))
    if kind == 5:
        return rng.choice("xA\u0000[{\"\\é") * rng.choice([1000, 10_000, 100_000])
    if kind in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return {rng.choice(["evse_id", "status", "timestamp", "", "x" * 300, "\u0000"]): _value(rng, depth + 1)
            for _ in range(rng.randrange(0, 5))}


def _item(rng: random.Random) -> object:
    """Mostly shaped like a status item, with one or more fields hostile."""
    item = {"evse_id": rng.choice(TEXTS[9:13]), "status": rng.choice(["Available", "Occupied", "available"]),
            "timestamp": rng.choice(DATES + [None])}
    for key in rng.sample(list(item), rng.randrange(0, 3)):
        item[key] = _value(rng)
    if rng.random() < 0.2:
        item[rng.choice(["extra", "evse_id ", "EVSE_ID"])] = _value(rng)
    return item if rng.random() < 0.9 else _value(rng)


def _raw(value: object, rng: random.Random) -> bytes:
    return json.dumps(value, ensure_ascii=rng.random() < 0.5, allow_nan=True).encode("utf-8", "surrogatepass")


def hostile_bodies(seed: int, count: int) -> Iterator[bytes]:
    """``count`` request bodies from ``seed``: the same seed, the same bodies."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.randrange(12)
        if kind < 6:
            yield _raw([_item(rng) for _ in range(rng.choice([1, 1, 2, 5, 50]))], rng)
        elif kind == 6:
            yield _raw(_value(rng), rng)
        elif kind == 7:
            depth = rng.choice([31, 33, 100, 1000, 100_000])
            opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"x":', b"}]")])
            yield opener * depth + rng.choice([b"1", b""]) + closer * rng.choice([depth, 0, depth // 2])
        elif kind == 8:
            good = _raw([_item(rng)], rng)
            yield good[: rng.randrange(len(good))]  # cut off mid-way
        elif kind == 9:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # not UTF-8, not JSON
        elif kind == 10:
            yield rng.choice([b"", b"null", b"NaN", b"-Infinity", b"1" * 5000, b"[1e999999]", b'"\\ud800"',
                              b'[{"evse_id": "DE*8PS*E000011", "evse_id": 5}]', b"\xef\xbb\xbf[]", b"[]" * 1000])
        else:
            yield _raw([{"evse_id": "DE*8PS*E000011", "status": "Available", "timestamp": rng.choice(DATES)}
                        for _ in range(rng.randrange(1, 4))], rng)


@dataclass
class FuzzOutcome:
    codes: Counter = field(default_factory=Counter)
    # (index, HTTP status or 0 for no answer, the body's head)
    failures: list[tuple[int, int, bytes]] = field(default_factory=list)


def fuzz(url: str, headers: dict[str, str], *, seed: int = 21, count: int = 2000, method: str = "POST",
         timeout: float = 30.0) -> FuzzOutcome:
    """Send ``count`` hostile bodies to ``url`` with ``headers``; every answer must be 2xx or 4xx."""
    outcome = FuzzOutcome()
    with httpx.Client(timeout=timeout) as client:
        for index, body in enumerate(hostile_bodies(seed, count)):
            try:
                answer = client.request(method, url, content=body,
                                        headers={"Content-Type": "application/json", **headers})
            except httpx.TransportError as error:  # reset, closed without an answer: a failure too
                outcome.failures.append((index, 0, f"{type(error).__name__}: {body[:200]!r}".encode()))
                continue
            outcome.codes[answer.status_code] += 1
            if not (200 <= answer.status_code < 300 or 400 <= answer.status_code < 500):
                outcome.failures.append((index, answer.status_code, body[:200]))
    return outcome


# --- the OCPI receiver -------------------------------------------------------------------------

# Path parameters: the right ones, wrong lengths, case, foreign parties, escapes and control characters.
COUNTRY_CODES = ["BE", "BE", "BE", "be", "B", "BEL", "NL", "%00%00", "%C3%A9%C3%A9", "..", "  "]
PARTY_IDS = ["BEC", "BEC", "BEC", "bec", "BE", "BECX", "TNM", "%00%00%00", "%2F%2F%2F", "..."]
LOCATION_IDS = ["LOC1", "LOC1", "LOC1", "loc1", "LOC2", "x" * 36, "x" * 37, "%00", "%F0%9F%94%8C", "%2E%2E", "a%2Fb",
                "%E2%80%AE", "%FF%FE"]
EVSE_UIDS = ["3256", "3256", "3257", "9999", "x" * 37, "%00", "%20"]
CONNECTOR_IDS = ["1", "2", "7", "x" * 37, "%0A"]
EVSE_STATUSES = ["AVAILABLE", "CHARGING", "BLOCKED", "PLANNED", "REMOVED", "charging", "OCCUPIED", "", None, 5]


def _mutated(obj: object, rng: random.Random, rate: float) -> object:
    """``obj`` with some of its values (at any depth) replaced by hostile ones, keys dropped or added."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            roll = rng.random()
            if roll < rate / 3:
                continue  # a required field missing
            out[key] = _value(rng) if roll < rate else _mutated(value, rng, rate)
        if rng.random() < rate:
            out[rng.choice(["extra", "ID", "last_updated ", "\u0000"])] = _value(rng)
        return out
    if isinstance(obj, list):
        items = [_mutated(item, rng, rate) for item in obj]
        if items and rng.random() < rate:
            items = items * rng.choice([2, 50])  # duplicates, many EVSEs
        return items
    return _value(rng) if rng.random() < rate else obj


def _ocpi_body(rng: random.Random, level: str, location: dict, method: str) -> object:
    evse = rng.choice(location["evses"])
    connector = rng.choice(evse["connectors"])
    whole = {"Location": location, "EVSE": evse, "connector": connector}[level]
    if method == "PATCH":
        if level == "EVSE" and rng.random() < 0.6:
            whole = {"status": rng.choice(EVSE_STATUSES), "last_updated": rng.choice(DATES + ["2030-01-01T00:00:00Z"])}
        else:
            keys = rng.sample(sorted(whole), rng.randrange(1, 4))
            whole = {key: whole[key] for key in keys} | {"last_updated": rng.choice(DATES + ["2030-01-01T00:00:00Z"])}
    return _mutated(whole, rng, rng.choice([0.02, 0.1, 0.3]))


def _credentials(rng: random.Random) -> object:
    """Credentials whose versions URL leads nowhere: a handshake that succeeded would replace the token."""
    body = {"token": rng.choice(["t", "x" * 65, "\u0000", "🔌"]), "url": rng.choice(
        ["http://127.0.0.1:1/ocpi/versions", "file:///etc/passwd", "http://user:pw@127.0.0.1:1/v", "ftp://x", "",
         "http://[::1", "http://127.0.0.1:1/" + "x" * 3000]),
        "roles": [{"role": rng.choice(["CPO", "EMSP", "cpo", 5]), "country_code": rng.choice(COUNTRY_CODES),
                   "party_id": rng.choice(PARTY_IDS), "business_details": {"name": rng.choice(TEXTS)}}]}
    return _mutated(body, rng, rng.choice([0.0, 0.1, 0.3]))


def ocpi_requests(seed: int, count: int, locations: list[dict]) -> Iterator[tuple[str, str, bytes]]:
    """``count`` hostile (method, path, body) for the OCPI receiver from ``seed``, many shaped like one of
    ``locations`` (at country BE, party BEC) so that they reach the deeper checks: PUT and PATCH of
    Locations, EVSEs and connectors at good and bad paths, and credentials. The same seed, the same requests."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.randrange(20)
        if kind == 0:
            yield rng.choice(["PUT", "POST"]), "/ocpi/2.2.1/credentials", _raw(_credentials(rng), rng)
            continue
        method = rng.choice(["PUT", "PATCH"])
        level = rng.choice(["Location", "EVSE", "EVSE", "connector"])
        good = rng.random() < 0.7
        parts = ["BE", "BEC", "LOC1"] if good else [rng.choice(COUNTRY_CODES), rng.choice(PARTY_IDS),
                                                    rng.choice(LOCATION_IDS)]
        if level != "Location":
            parts.append("3256" if good else rng.choice(EVSE_UIDS))
        if level == "connector":
            parts.append("1" if good else rng.choice(CONNECTOR_IDS))
        path = "/ocpi/2.2.1/locations/" + "/".join(parts)
        if kind < 15:
            body = _raw(_ocpi_body(rng, level, rng.choice(locations), method), rng)
        else:  # the generic hostile bodies: deep nesting, broken JSON and UTF-8, wrong shapes
            body = next(hostile_bodies(rng.randrange(2**32), 1))
        yield method, path, body


def fuzz_requests(base_url: str, headers: dict[str, str], requests: Iterator[tuple[str, str, bytes]], *,
                  timeout: float = 30.0) -> FuzzOutcome:
    """Send each (method, path, body) to ``base_url``; every answer must be 2xx or 4xx."""
    outcome = FuzzOutcome()
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for index, (method, path, body) in enumerate(requests):
            try:
                answer = client.request(method, path, content=body,
                                        headers={"Content-Type": "application/json", **headers})
            except httpx.TransportError as error:
                outcome.failures.append((index, 0, f"{type(error).__name__}: {method} {path} {body[:200]!r}".encode()))
                continue
            outcome.codes[answer.status_code] += 1
            if answer.headers.get("content-type", "").startswith("application/json"):
                ocpi_code = answer.json().get("status_code") if isinstance(answer.json(), dict) else None
                outcome.codes[f"ocpi {ocpi_code}"] += 1
            if not (200 <= answer.status_code < 300 or 400 <= answer.status_code < 500):
                outcome.failures.append((index, answer.status_code, f"{method} {path} ".encode() + body[:200]))
    return outcome
