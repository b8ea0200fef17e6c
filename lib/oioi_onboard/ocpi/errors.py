"""The ways a pull from a CPO's OCPI endpoint fails, one class each.

    OcpiError                  (errors.EndpointError)
    ├── Unreachable            no answer: refused, unknown host, TLS, a dropped connection
    │   └── TimedOut           no answer in time
    ├── Unauthorized           HTTP 401 to the token Base64-encoded and plain alike
    ├── HTTPStatusError        another HTTP error status (after the retries, for 5xx)
    ├── NotJson                an answer that is not an OCPI response: not JSON, or no status_code
    ├── StatusCodeError        an OCPI response whose status_code is not 1000
    └── NoLocationsEndpoint    no version we speak (2.2.1, 2.1.1), or no Locations Sender endpoint

Every message names the URL and what went wrong there; ``url`` holds it too. None holds the token:
the client never passes it in.
"""

from ..errors import EndpointError


class OcpiError(EndpointError):
    """Base class of every failure of a pull."""

    retryable = False

    def __init__(self, message: str, *, url: str, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.url = url
        self.status_code = status_code  # the HTTP status, when there was an answer
        self.retry_after = retry_after


class Unreachable(OcpiError):
    """No answer came: the endpoint could not be reached or dropped the connection."""

    retryable = True


class TimedOut(Unreachable):
    """The endpoint did not answer within the timeout."""


class Unauthorized(OcpiError):
    """HTTP 401 whichever way the token was sent: the peer does not know it."""


class HTTPStatusError(OcpiError):
    """An HTTP error status without an OCPI status_code that says more; 408, 425, 429 and 5xx may pass later."""

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status_code in (408, 425, 429) or (self.status_code or 0) >= 500


class NotJson(OcpiError):
    """The answer is not an OCPI response: not JSON at all, or JSON without a status_code."""


class StatusCodeError(OcpiError):
    """The OCPI response reports a failure: ``ocpi_status`` (2xxx client, 3xxx server) and its message."""

    def __init__(self, message: str, *, url: str, ocpi_status: int, status_message: str | None,
                 status_code: int | None = None):
        super().__init__(message, url=url, status_code=status_code)
        self.ocpi_status = ocpi_status
        self.status_message = status_message


class NoLocationsEndpoint(OcpiError):
    """The peer offers no OCPI version we speak, or no Locations endpoint in the role of Sender."""
