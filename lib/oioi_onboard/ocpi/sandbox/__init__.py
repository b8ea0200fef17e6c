"""An OCPI 2.2.1 CPO back end to pull from and be pushed by: the simulator behind `oioi-onboard ocpi-sandbox`.

It serves a demo CPO's Locations (``network``: N Belgian or Dutch Locations made from a seed) as a
CPO's back end does, in the role of Sender (``routes``), and can push EVSE status changes to a
receiver as PATCHes (``sender``), registering there first by the credentials handshake when given a
registration token. A local test back end, not a product: bind it to loopback.

    GET /ocpi/versions                       the versions it speaks (2.2.1 unless told otherwise)
    GET /ocpi/2.2.1                          their details: the ``locations`` endpoint, role SENDER
    GET /ocpi/2.2.1/locations                the list, ordered as created, with
        ?date_from=&date_to=                 last_updated in [date_from, date_to)
        ?offset=&limit=                      paging; ``limit`` is capped at the page limit
        -> X-Total-Count (what the filters match), X-Limit (the cap), and
           Link: <...?offset=N&limit=M&...filters>; rel="next" until the last page
    GET /ocpi/2.2.1/locations/{location_id}[/{evse_uid}[/{connector_id}]]    one object; 2003 if unknown

Every OCPI request needs ``Authorization: Token <token>``, Base64-encoded or plain (``plain_only``
accepts only the plain form, like an OCPI 2.1.1 peer); otherwise HTTP 401. Answers are OCPI
envelopes; a bad ``date_from``, ``offset`` or ``limit`` is HTTP 400 with status_code 2001. Served
as OCPI 2.1.1 (``versions``), a Location loses its party fields and ``publish``, and its
connectors say ``voltage`` and ``amperage``, as 2.1.1 has them.

Changes over time: ``periodic_changes`` moves EVSE statuses (and, for a share, names) every few
seconds, each bumping ``last_updated``; ``POST /_sandbox/changes {"count": N, "static": false}``
makes N changes at once and says which; ``{"remove": N}`` takes the newest N Locations out of the list.

Faults, at run time (loopback callers only), for the puller's bad days:

    POST /_sandbox/faults {"fail_next": 2, "retry_after": 1}   the next 2 requests: 503 with Retry-After
    POST /_sandbox/faults {"latency_ms": 3000}                 every answer 3 s late
    POST /_sandbox/faults {"status_code": 3000}                the list answers status_code 3000
    POST /_sandbox/faults {"html_from_page": 2}                from page 2 on, an HTML error page
    POST /_sandbox/faults {"plain_only": true}                 the token only unencoded

Inspection: ``GET /_sandbox/requests`` (the path, query, token encoding, X-Request-ID and
X-Correlation-ID of the last requests, loopback only), ``GET /_sandbox/stats``, ``GET /_sandbox/health``.
"""

from .network import Change, Network
from .routes import VERSIONS_PATH, Faults, create_app
from .sender import (
    Registration,
    RegistrationFailed,
    SenderStats,
    periodic_changes,
    register,
    registered_status_sender,
    send_status_patches,
    status_sender,
)

__all__ = ["Network", "Change", "create_app", "Faults", "VERSIONS_PATH", "SenderStats", "send_status_patches",
           "periodic_changes", "status_sender", "Registration", "RegistrationFailed", "register",
           "registered_status_sender"]
