"""Sending from a second process (oioi.sender) against the real sandbox: the same answers and the same errors
as the client in this process, and a process that dies leaves its requests failed and later ones sent here."""

import asyncio
import json

import pytest

from oioi_onboard.oioi import errors, messages
from oioi_onboard.oioi.client import OioiClient
from oioi_onboard.oioi.sender import SendingProcess
from tests.oioi.test_client import OTHER_PARTNER, PARTNER, SECRET_KEY, station


@pytest.fixture(scope="module")
def sandbox_options() -> dict:
    return {"api_keys": (SECRET_KEY,), "partner_ids": (PARTNER, OTHER_PARTNER)}


def body(partner: str = PARTNER, **options) -> bytes:
    post = messages.StationPost(station=station(**options), partner_identifier=partner)
    return json.dumps(messages.encode(post)).encode()


def test_answers_and_errors_are_the_clients_own(sandbox):
    async def failure(client, content: bytes) -> errors.OioiError:  # noqa: ANN001
        with pytest.raises(errors.OioiError) as raised:
            await client.send_json(content, "station-post")
        return raised.value

    def same(error: errors.OioiError) -> tuple:
        return type(error), str(error), error.status_code, error.retry_after, getattr(error, "code", None), \
            error.retryable, error.setup_problem

    async def scenario() -> None:
        process = SendingProcess()
        await process.start()
        settings = {"max_retries": 0, "timeout": 2}
        unknown_partner = body("Unknown-partner-0123456789")
        try:
            remote = process.client(sandbox.url, SECRET_KEY, max_connections=8, **settings)
            answers = await asyncio.gather(*(remote.send_json(body(), "station-post") for _ in range(20)))
            assert all(answer == {"result": {"code": 0, "message": "Success."}} for answer in answers)
            for endpoint, key, content, expected in (
                    (sandbox.url, SECRET_KEY, unknown_partner, errors.InvalidPartnerIdentifier),
                    (sandbox.url, "not-the-key-000", body(), errors.InvalidApiKey),
                    ("http://127.0.0.1:9/api/v4/request", SECRET_KEY, body(), errors.ConnectError)):
                async with OioiClient(endpoint, key, **settings) as local:
                    here = await failure(local, content)
                there = await failure(process.client(endpoint, key, **settings), content)
                assert isinstance(there, expected) and same(there) == same(here)
            assert not process.gone
        finally:
            await process.aclose()
        assert process._child.returncode == 0

    asyncio.run(scenario())


def test_a_sending_process_that_dies_fails_its_requests_and_the_next_ones_go_from_here(sandbox):
    async def scenario() -> None:
        silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)  # takes, never answers
        port = silent.sockets[0].getsockname()[1]
        process = SendingProcess()
        await process.start()
        client = process.client(sandbox.url, SECRET_KEY, max_retries=0)
        waiting = process.client(f"http://127.0.0.1:{port}/api/v4/request", SECRET_KEY, max_retries=0, timeout=30)
        try:
            assert (await client.send_json(body(), "station-post"))["result"]["code"] == 0
            in_flight = asyncio.create_task(waiting.send_json(body(), "station-post"))
            await asyncio.sleep(0.5)
            process._child.kill()
            with pytest.raises(errors.TransportError, match="sending process stopped"):
                await asyncio.wait_for(in_flight, timeout=10)
            assert process.gone
            assert (await client.send_json(body(), "station-post"))["result"]["code"] == 0  # sent from here
        finally:
            await client.aclose()
            await process.aclose()
            silent.close()

    asyncio.run(scenario())
