"""Provisioning a CPO's API key and partner identifiers on the embedded sandbox.

The sandbox (``oioi.sandbox``) is a local test receiver: it knows only the keys
it was started with and those provisioned through ``POST /_sandbox/partners``.
``provision`` is that request; ``store.connection`` sends it whenever a CPO on the
sandbox is registered or its key, partner identifiers or endpoint change.

The key travels only in the request body, to a loopback address; it is never
part of an error message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import Conflict, EndpointError

if TYPE_CHECKING:
    import httpx

PARTNERS_PATH = "/_sandbox/partners"
TIMEOUT_S = 3.0


class SandboxUnreachable(EndpointError):
    """The sandbox did not answer (not started, another port, too slow)."""


class SandboxRefused(EndpointError):
    """The sandbox answered the provisioning request with an error (400 or 403)."""


class PartnerTaken(SandboxRefused, Conflict):
    """A partner identifier already belongs to another API key at the sandbox (HTTP 409)."""


def provision(
    sandbox_base_url: str,
    *,
    api_key: str,
    partner_identifiers: list[str],
    previous_api_key: str | None = None,
    timeout: float = TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> dict:
    """Let ``api_key`` act for ``partner_identifiers`` at the sandbox; returns its answer.

    ``previous_api_key`` (the key being replaced) moves partner identifiers it held.
    Raises SandboxUnreachable, PartnerTaken or SandboxRefused.
    """
    body = {"api_key": api_key, "partner_identifiers": list(partner_identifiers)}
    if previous_api_key and previous_api_key != api_key:
        body["previous_api_key"] = previous_api_key
    where = sandbox_base_url.rstrip("/")
    import httpx  # here: every command imports this module through the store, few provision (0.1 s)

    try:
        with httpx.Client(timeout=timeout, transport=transport, trust_env=False) as client:
            response = client.post(where + PARTNERS_PATH, json=body)
    except httpx.TimeoutException:
        raise SandboxUnreachable(f"the sandbox at {where} did not answer within {timeout:g} s") from None
    except httpx.TransportError as error:
        kind = type(error).__name__
        raise SandboxUnreachable(f"the sandbox at {where} cannot be reached ({kind}); is it running?") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    detail = answer.get("error") if isinstance(answer, dict) else None
    if response.status_code == 409:
        raise PartnerTaken(f"the sandbox refused: {detail or 'a partner identifier belongs to another API key'}")
    if response.status_code != 200 or not isinstance(answer, dict):
        raise SandboxRefused(f"the sandbox at {where} answered HTTP {response.status_code}"
                             + (f": {detail}" if detail else ""))
    return answer
