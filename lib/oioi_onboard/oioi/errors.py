"""The ways an OIOI call fails, one class each.

    OioiError
    ├── TransportError            no usable answer
    │   ├── Timeout               the endpoint did not answer in time
    │   └── ConnectError          the endpoint could not be reached
    ├── HTTPStatusError           an HTTP status other than 200 without a result code
    │   └── RetryLater            408, 425, 429, 5xx: the same request may pass later
    │       ├── Throttled         429: too many requests, wait ``retry_after``
    │       └── ServerError       5xx: the endpoint is failing or busy
    └── ResultCodeError           the body carries a non-zero OIOI result code
        ├── InvalidApiKey         210 (and HTTP 401)
        ├── InvalidPartnerIdentifier 211
        ├── NotAllowed            220 (and HTTP 403)
        ├── InvalidRequestFormat  230 (and HTTP 400)
        ├── EvseNotFound          181 (and HTTP 404)
        └── EvseOtherCoordinates  322

``retryable`` says whether sending the same request again later may succeed;
``retry_after`` is what the answer's ``Retry-After`` header asked for (seconds),
on every error, retryable or not. ``setup_problem`` marks the refusals that are
about the CPO's set-up (API key, partner identifier, permissions), not about the
request: every request of that set-up gets the same answer until it is fixed.
No message or repr here ever holds the API key: the client never passes it in.
"""

from ..errors import EndpointError
from . import codes


class OioiError(EndpointError):
    """Base class of every OIOI failure."""

    retryable = False
    setup_problem = False

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class TransportError(OioiError):
    """No usable answer arrived: the request may or may not have been processed."""

    retryable = True


class Timeout(TransportError):
    """The endpoint accepted the connection but did not answer in time."""


class ConnectError(TransportError):
    """The endpoint could not be reached (refused, DNS, TLS)."""


class HTTPStatusError(OioiError):
    """The endpoint answered with an HTTP error and no OIOI result code."""

    def __init__(self, message: str, *, status_code: int, retry_after: float | None = None):
        super().__init__(message, status_code=status_code, retry_after=retry_after)

    @property
    def setup_problem(self) -> bool:  # type: ignore[override]
        return self.status_code == 403  # forbidden: this key may not do this, whatever the request


class RetryLater(HTTPStatusError):
    """408 (request timeout), 425 (too early), 429 or 5xx: send the same request again after ``retry_after``."""

    retryable = True


class Throttled(RetryLater):
    """HTTP 429: the endpoint limits this client's rate; nothing was processed."""


class ServerError(RetryLater):
    """HTTP 5xx: the endpoint is failing or busy; retry after ``retry_after`` seconds."""


class ResultCodeError(OioiError):
    """The answer carries a non-zero OIOI result code."""

    code: int = codes.CLIENT_ERROR

    def __init__(self, code: int, message: str = "", *, status_code: int | None = None,
                 retry_after: float | None = None):
        self.code = code
        self.meaning = codes.meaning(code)
        text = f"OIOI code {code}: {self.meaning}"
        if message and message.rstrip(".").lower() != self.meaning.lower():
            text += f" ({message})"
        super().__init__(text, status_code=status_code, retry_after=retry_after)
        self.server_message = message

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.code in codes.TRANSIENT

    @property
    def setup_problem(self) -> bool:  # type: ignore[override]
        return self.code in codes.SETUP

    @property
    def general_code(self) -> int:
        return codes.general_code(self.code)


class InvalidApiKey(ResultCodeError):
    """210: the endpoint rejected the API key; nothing will pass until it is replaced."""


class InvalidPartnerIdentifier(ResultCodeError):
    """211: the partner identifier is unknown to the endpoint or not this key's."""


class NotAllowed(ResultCodeError):
    """220: this API key or partner may not touch that resource (another partner's station or connector)."""


class InvalidRequestFormat(ResultCodeError):
    """230: the request is malformed; the message names the field."""


class EvseNotFound(ResultCodeError):
    """181: no connector with this EVSE id (or not one of this partner's)."""


class EvseOtherCoordinates(ResultCodeError):
    """322: a connector with this EVSE id exists at other coordinates."""


_BY_CODE: dict[int, type[ResultCodeError]] = {
    codes.INVALID_API_KEY: InvalidApiKey,
    codes.INVALID_PARTNER_IDENTIFIER: InvalidPartnerIdentifier,
    codes.NOT_ALLOWED: NotAllowed,
    codes.INVALID_REQUEST_FORMAT: InvalidRequestFormat,
    codes.EVSE_NOT_FOUND: EvseNotFound,
    codes.EVSE_OTHER_COORDINATES: EvseOtherCoordinates,
}


def error_for_code(code: int, message: str = "", *, status_code: int | None = None,
                   retry_after: float | None = None) -> ResultCodeError:
    """The most specific exception for an OIOI result code."""
    return _BY_CODE.get(code, ResultCodeError)(code, message, status_code=status_code, retry_after=retry_after)
