"""A request body from an untrusted client: counted as it arrives, within a byte limit, a minimum rate and a
time limit, and parsed as JSON within a nesting limit. The relay's routes (statuses, OCPI) read bodies so.

    try:
        body = parse_json(await read_body(request, limit=MAX_BYTES))
    except BodyRefused as refused:
        return answer(refused.status_code, refused.message)   # 400, 408 or 413; close the connection

Check who is asking before reading: a body is only read for a caller who may send one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

from .. import untrusted

# Past the limit the body is still read, and dropped, up to this many times the limit: a client that sends a
# little too much then reads the 413 instead of a reset connection. Beyond it the connection is cut.
DRAIN_FACTOR = 4
# A body must arrive at this rate on average after the first GRACE_SECONDS, and whole within BODY_SECONDS:
# a client that trickles bytes holds a connection and a buffer, and is cut off with 408.
MIN_BYTES_PER_SECOND = 16 * 1024
GRACE_SECONDS = 2.0
BODY_SECONDS = 30.0
# Deeper JSON is refused before parsing (``untrusted.loads``): the standard parser recurses once per level.
MAX_DEPTH = untrusted.MAX_DEPTH
nests_deeper_than = untrusted.nests_deeper_than


class BodyRefused(Exception):
    """The body was not read or not parsed; the answer is ``status_code`` (400, 408, 413) with ``message``.

    ``unread`` is True when the client may still be sending: answer with ``Connection: close``.
    """

    def __init__(self, status_code: int, message: str, *, unread: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.unread = unread


def _too_large(size: int, limit: int, *, exact: bool = True) -> BodyRefused:
    shown = f"{size:,}" if exact else f"more than {size:,}"
    return BodyRefused(413, f"the body has {shown} bytes; send at most {limit:,} per request", unread=not exact)


async def read_body(
    request: Request,
    *,
    limit: int,
    seconds: float = BODY_SECONDS,
    min_bytes_per_second: float = MIN_BYTES_PER_SECOND,
    grace_seconds: float = GRACE_SECONDS,
) -> bytes:
    """The body, at most ``limit`` bytes, read as it arrives (chunked or not); raises BodyRefused.

    413 when it is larger (a declared Content-Length is believed at once; a body that only turns out larger
    is drained to ``DRAIN_FACTOR`` x ``limit`` and dropped, never held). 408 when it arrives slower than
    ``min_bytes_per_second`` after ``grace_seconds``, or not whole within ``seconds``.
    ClientDisconnect (starlette) when the client hangs up.
    """
    drain = limit * DRAIN_FACTOR
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > drain:
        raise BodyRefused(413, _too_large(int(declared), limit).message, unread=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    give_up = started + seconds
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(min(give_up, started + grace_seconds)) as timer:
            async for chunk in request.stream():
                size += len(chunk)
                if size <= limit:
                    chunks.append(chunk)
                elif size > drain:
                    raise _too_large(size, limit, exact=False)
                else:
                    chunks.clear()
                # The next bytes must come before the average since the grace falls under the minimum rate.
                timer.reschedule(min(give_up, started + grace_seconds + size / min_bytes_per_second))
    except TimeoutError:
        waited = loop.time() - started
        why = (f"not complete within {seconds:g} s" if waited >= seconds - 0.01
               else f"arriving slower than {min_bytes_per_second:,.0f} bytes/s")
        raise BodyRefused(408, f"the body was {why} ({size:,} bytes in {waited:.1f} s); send it in one go",
                          unread=True) from None
    if size > limit:
        raise _too_large(size, limit)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of a UTF-8 body; BodyRefused (400) if it is not JSON or nests deeper than ``max_depth``."""
    try:
        return untrusted.loads(raw, max_depth=max_depth)
    except untrusted.TooDeep:
        raise BodyRefused(400, f"the body nests arrays or objects deeper than {max_depth} levels") from None
    except ValueError as error:
        raise BodyRefused(400, f"the body is not UTF-8 JSON: {error}") from None
