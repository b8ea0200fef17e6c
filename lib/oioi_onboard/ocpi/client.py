"""Pulling a CPO's Locations from its OCPI back end (we are the eMSP side, the CPO is the Sender).

    with OcpiClient(versions_url, token) as client:
        pulled = client.pull_locations(date_from=last_pull_started_at)
    pulled.locations, pulled.warnings, client.token_plain

The steps, as the spec has a client take them:

1. GET the versions URL and choose 2.2.1 (2.1.1 when that is all there is); a URL that already
   answers with version details is taken as such;
2. GET the version's details and take the ``locations`` endpoint in the role SENDER (2.1.1 has
   no roles);
3. GET the list (``date_from`` for what changed since, ``limit`` as asked) and follow each
   ``Link: <...>; rel="next"`` as given (it repeats the filters) until there is none. The server's
   ``X-Limit`` caps a page; an ``X-Total-Count`` that changes while the pages are read means
   Locations came or went meanwhile: the pull says so in ``warnings``.

Every request carries ``Authorization: Token <base64 of the token>`` (2.2.1's rule); the first
401 switches once to the other encoding (many 2.1.1 and 2.2 peers want the token plain), and
``token_plain`` says which one the peer took, for the caller to remember. Each request has its
own ``X-Request-ID``; one ``X-Correlation-ID`` runs through the whole pull.

Transport errors, timeouts, 408, 425, 429 and 5xx are retried ``max_retries`` times with the one
backoff policy (``oioi.retry``), never sooner than ``Retry-After``; an answer that asks for more
than ``backoff_max`` is raised at once. An OCPI response whose status_code is not 1000 is an error
carrying its message (``errors``). The client is synchronous: a pull is a few dozen pages, read one
after another, and the page, the CLI and the worker's thread all call it the same way.
"""

from __future__ import annotations

import base64
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from ..oioi.retry import CLIENT_BACKOFF_BASE, CLIENT_BACKOFF_MAX, backoff_delay, parse_retry_after
from ..wording import counted
from . import errors
from .models import InterfaceRole, StatusCode

__all__ = ["OcpiClient", "LocationsPull", "SUPPORTED_VERSIONS", "ocpi_datetime"]

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("2.2.1", "2.1.1")  # in the order of preference
_RETRY_STATUSES = frozenset({408, 425, 429})


def ocpi_datetime(moment: datetime) -> str:
    """A DateTime as OCPI writes it: UTC, whole seconds, ``Z`` (``2026-12-01T08:00:00Z``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header_int(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


@dataclass
class LocationsPull:
    """What one pull brought: the Locations as JSON (each checked later, one by one) and what to know about it."""

    versions_url: str
    version: str  # the OCPI version spoken: "2.2.1" or "2.1.1"
    endpoint: str  # the Locations Sender endpoint
    date_from: datetime | None
    locations: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    total_count: int | None = None  # the last X-Total-Count
    limit: int | None = None  # the server's X-Limit
    warnings: list[str] = field(default_factory=list)
    correlation_id: str = ""


class OcpiClient:
    """Talks to one CPO's OCPI back end with one credentials token."""

    def __init__(
        self,
        versions_url: str,
        token: str,
        *,
        token_plain: bool = False,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = CLIENT_BACKOFF_BASE,
        backoff_max: float = CLIENT_BACKOFF_MAX,
        page_limit: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        if not token or not token.strip():
            raise ValueError("an OCPI credentials token is needed to pull Locations")
        self.versions_url = versions_url
        self.token_plain = token_plain  # which encoding the next request sends; a 401 switches it once
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.page_limit = page_limit  # the limit asked for on the first page; the server may cap it
        self.correlation_id = str(uuid.uuid4())
        self.requests = 0
        # Tests swap these for a recording sleep and a fixed random source.
        self.sleep: Callable[[float], None] = time.sleep
        self.random: random.Random = random.Random()
        self.__token = token.strip()
        self._switched = False  # the one switch of encoding a 401 allows
        self._http = httpx.Client(transport=transport, timeout=httpx.Timeout(timeout), follow_redirects=True,
                                  headers={"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"OcpiClient(versions_url={self.versions_url!r}, token='…{self.__token[-4:]}')"

    def __enter__(self) -> OcpiClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- one request ---------------------------------------------------------------------------

    def _authorization(self) -> str:
        if self.token_plain:
            return f"Token {self.__token}"
        return "Token " + base64.b64encode(self.__token.encode("utf-8")).decode("ascii")

    def get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        """GET an OCPI resource: (the envelope's data, the response), retried as the module says."""
        attempt = 0
        while True:
            try:
                return self._get_once(url, params)
            except errors.OcpiError as error:
                if not error.retryable or attempt >= self.max_retries:
                    raise
                if error.retry_after is not None and error.retry_after > self.backoff_max:
                    raise type(error)(f"{error.message}; it asks to wait {error.retry_after:g} s, longer than "
                                      f"{self.backoff_max:g} s: try again later", url=error.url,
                                      status_code=error.status_code, retry_after=error.retry_after) from None
                attempt += 1
                delay = backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_max,
                                      retry_after=error.retry_after, rng=self.random)
                log.info("OCPI GET %s failed (%s); retry %d of %d in %.2f s", url, error.message, attempt,
                         self.max_retries, delay)
                self.sleep(delay)

    def _get_once(self, url: str, params: dict[str, Any] | None) -> tuple[Any, httpx.Response]:
        response = self._send(url, params)
        if response.status_code == 401 and not self._switched:
            # The peer may want the token the other way (2.1.1 and 2.2 peers often take it plain).
            self._switched = True
            self.token_plain = not self.token_plain
            response = self._send(url, params)
            if response.status_code == 401:
                self.token_plain = not self.token_plain
        if response.status_code == 401:
            raise errors.Unauthorized(f"{url} refused the OCPI token (HTTP 401), sent Base64-encoded and plain: "
                                      "check the token the CPO's back end issued", url=url, status_code=401)
        return self._read(url, response), response

    def _send(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        headers = {"Authorization": self._authorization(), "X-Request-ID": str(uuid.uuid4()),
                   "X-Correlation-ID": self.correlation_id}
        self.requests += 1
        try:
            return self._http.get(url, params=params, headers=headers)
        except httpx.TimeoutException:
            raise errors.TimedOut(f"{url} did not answer within {self.timeout:g} s", url=url) from None
        except httpx.InvalidURL as error:
            raise errors.Unreachable(f"{url} is not a URL that can be asked: {error}", url=url) from None
        except httpx.TransportError as error:
            reason = str(error) or type(error).__name__
            raise errors.Unreachable(f"{url} cannot be reached: {reason}", url=url) from None

    def _read(self, url: str, response: httpx.Response) -> Any:
        """The envelope's data, or the error the answer means."""
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            body = response.json()
        except ValueError:
            body = None
        envelope = body if isinstance(body, dict) and isinstance(body.get("status_code"), int) else None
        if envelope is not None and envelope["status_code"] != StatusCode.SUCCESS and \
                not (status >= 500 or status in _RETRY_STATUSES):
            message = envelope.get("status_message")
            raise errors.StatusCodeError(
                f"{url} answered OCPI status_code {envelope['status_code']}"
                + (f": {message}" if message else " without a message")
                + (f" (HTTP {status})" if status != 200 else ""),
                url=url, ocpi_status=envelope["status_code"], status_message=message, status_code=status)
        if status >= 400:
            detail = f": {_short(str(envelope.get('status_message')))}" if envelope and \
                envelope.get("status_message") else ""
            raise errors.HTTPStatusError(f"{url} answered HTTP {status} {response.reason_phrase}{detail}".rstrip(),
                                         url=url, status_code=status, retry_after=retry_after)
        if body is None:
            kind = response.headers.get("Content-Type", "no Content-Type")
            raise errors.NotJson(f"{url} did not answer JSON ({kind}, HTTP {status}): "
                                 f"{_short(response.text, 80)!r}", url=url, status_code=status)
        if envelope is None:
            raise errors.NotJson(f"{url} answered JSON that is not an OCPI response (it has no status_code)",
                                 url=url, status_code=status)
        return envelope.get("data")

    # -- the steps of a pull ------------------------------------------------------------------------

    def locations_endpoint(self) -> tuple[str, str]:
        """(OCPI version, URL of the Locations Sender endpoint), from the versions URL."""
        from pydantic import ValidationError

        from .models import Version, VersionDetails

        data, _ = self.get(self.versions_url)
        if isinstance(data, dict) and "endpoints" in data:
            details_url, details = self.versions_url, data  # the URL of one version's details
        else:
            try:
                versions = [Version.model_validate(item) for item in data or []]
            except (ValidationError, TypeError):
                raise errors.NotJson(f"{self.versions_url} is not an OCPI versions list (version, url)",
                                     url=self.versions_url) from None
            offered = {version.version: version.url for version in versions}
            chosen = next((v for v in SUPPORTED_VERSIONS if v in offered), None)
            if chosen is None:
                raise errors.NoLocationsEndpoint(
                    f"{self.versions_url} offers OCPI {', '.join(offered) or 'no version'}; we speak "
                    f"{' and '.join(SUPPORTED_VERSIONS)}", url=self.versions_url)
            details_url = urljoin(self.versions_url, offered[chosen])
            details, _ = self.get(details_url)
        try:
            version_details = VersionDetails.model_validate(details)
        except ValidationError:
            raise errors.NotJson(f"{details_url} is not OCPI version details (version, endpoints)",
                                 url=details_url) from None
        if version_details.version not in SUPPORTED_VERSIONS:
            raise errors.NoLocationsEndpoint(f"{details_url} describes OCPI {version_details.version}; we speak "
                                             f"{' and '.join(SUPPORTED_VERSIONS)}", url=details_url)
        role = InterfaceRole.SENDER if version_details.version != "2.1.1" else None
        endpoint = version_details.endpoint("locations", role)
        if endpoint is None:
            raise errors.NoLocationsEndpoint(
                f"{details_url} lists no locations endpoint" + (" in the role SENDER" if role else "")
                + ": the CPO's back end does not publish its Locations to be pulled", url=details_url)
        return version_details.version, urljoin(details_url, endpoint)

    def pull_locations(self, *, date_from: datetime | None = None) -> LocationsPull:
        """Every Location (changed since ``date_from``, inclusive), page by page; see the module for the rules."""
        version, endpoint = self.locations_endpoint()
        pulled = LocationsPull(versions_url=self.versions_url, version=version, endpoint=endpoint,
                               date_from=date_from, correlation_id=self.correlation_id)
        params: dict[str, Any] | None = {}
        if date_from is not None:
            params["date_from"] = ocpi_datetime(date_from)
        if self.page_limit:
            params["limit"] = self.page_limit
        url: str | None = endpoint
        seen_urls: set[str] = set()
        by_identity: dict[tuple, int] = {}
        duplicates = 0
        while url is not None:
            data, response = self.get(url, params or None)
            seen_urls.add(str(response.url))
            pulled.pages += 1
            if not isinstance(data, list):
                raise errors.NotJson(f"{response.url} answered data that is not a list of Locations", url=url)
            self._check_headers(pulled, response, len(data))
            for item in data:
                identity = _identity(item)
                if identity is not None and identity in by_identity:
                    pulled.locations[by_identity[identity]] = item  # the later page is the newer view
                    duplicates += 1
                    continue
                if identity is not None:
                    by_identity[identity] = len(pulled.locations)
                pulled.locations.append(item)
            following = response.links.get("next", {}).get("url")
            url = urljoin(str(response.url), following) if following else None
            params = None  # the link repeats the filters itself
            if url is not None and url in seen_urls:
                pulled.warnings.append(f"{response.url} links to a page already read ({url}); the pull stopped there")
                url = None
        if duplicates:
            pulled.warnings.append(f"{counted(duplicates, 'Location')} came twice (the list moved while it was read); "
                                   "the later copy was kept")
        if pulled.total_count is not None and len(pulled.locations) < pulled.total_count:
            pulled.warnings.append(f"the last X-Total-Count said {counted(pulled.total_count, 'Location')}, "
                                   f"the pages held {len(pulled.locations)}")
        return pulled

    def _check_headers(self, pulled: LocationsPull, response: httpx.Response, count: int) -> None:
        limit = _header_int(response, "X-Limit")
        if limit is not None:
            pulled.limit = limit
            if count > limit:
                pulled.warnings.append(f"{response.url} held {count} Locations, more than its X-Limit of {limit}")
        total = _header_int(response, "X-Total-Count")
        if total is not None:
            if pulled.total_count is not None and total != pulled.total_count:
                pulled.warnings.append(
                    f"X-Total-Count changed from {pulled.total_count} to {total} during the pull (page "
                    f"{pulled.pages}): Locations were {'added' if total > pulled.total_count else 'removed'} "
                    "meanwhile" + ("; a Location may have been skipped, pull again before confirming deletions"
                                   if total < pulled.total_count else ""))
            pulled.total_count = total


def _identity(item: Any) -> tuple | None:
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return item.get("country_code"), item.get("party_id"), item["id"]
    return None
