"""OIOI result codes and their meanings (request.rst, "OIOI Response Codes").

A receiver may answer with a general code (``100``) where a specific one
(``141``) also fits; ``meaning`` and ``general_code`` let callers treat both alike.
"""

MEANINGS: dict[int, str] = {
    0: "Success",
    11: "Successfully started a charging session",
    12: "Successfully authorized a charging session",
    100: "PlugSurfing system error",
    101: "Database error",
    102: "System timeout",
    140: "Authentication failed: no positive authentication response",
    141: "Authentication failed: invalid email or password",
    142: "Authentication failed: invalid email",
    143: "Authentication failed: email already exists",
    144: "Authentication failed: email does not exist",
    145: "Authentication failed: user token not valid",
    180: "Entity not found",
    181: "EVSE not found",
    182: "Session not found",
    183: "Company not found",
    184: "Vehicle not found",
    185: "Subscription plan not found",
    186: "Group not found",
    187: "EVSE ID does not support direct pay",
    188: "EVSE ID does not support remote stop",
    189: "Reservation not found",
    190: "EVCO ID error",
    191: "EVCO ID not found",
    192: "EVCO ID locked",
    193: "EVCO ID has no valid payment method",
    194: "EVCO ID has another active reservation",
    195: "User has already active rating subscription",
    200: "Client request error",
    210: "Invalid API key",
    211: "Invalid partner identifier",
    220: "API key not allowed to access the requested resource",
    230: "Invalid request format",
    300: "Operator system error",
    302: "Operator system timeout",
    310: "EVSE error",
    312: "EVSE timeout",
    320: "EVSE already in use",
    321: "No EV connected to EVSE",
    322: "Connector with the same EVSE ID, but with different latitude/longitude exists",
    323: "EVSE already reserved",
    330: "EVSE does not support reservation",
    400: "Hub system error",
    402: "Hub system timeout",
    800: "Payment provider system error",
    802: "Payment provider system timeout",
    805: "This user is not allowed to use this method",
    830: "Invalid format",
    850: "Invalid payment method",
    860: "Bank transfer error",
    861: "Bank account not valid",
    862: "Invalid name",
    863: "Invalid IBAN",
    864: "Invalid BIC",
    870: "Credit card error",
    871: "Credit card not valid",
    872: "Invalid card holder name",
    874: "Invalid credit card number",
    875: "Invalid expiration date",
    876: "Invalid CVC",
    880: "PayPal error",
}

GROUPS: dict[int, str] = {
    0: "Success",
    1: "PlugSurfing error",
    2: "Client error",
    3: "Operator and EVSE error",
    4: "Hub error",
    8: "Payment provider error",
}

SUCCESS = 0
SYSTEM_ERROR = 100
EVSE_NOT_FOUND = 181
CLIENT_ERROR = 200
INVALID_API_KEY = 210
INVALID_PARTNER_IDENTIFIER = 211
NOT_ALLOWED = 220
INVALID_REQUEST_FORMAT = 230
EVSE_OTHER_COORDINATES = 322

# System errors and timeouts of every party: the request may succeed later.
TRANSIENT = {100, 101, 102, 300, 302, 312, 400, 402, 800, 802}

# The CPO's set-up, not the request, is refused: the API key (210), the partner identifier (211), what
# the key may touch (220). Every request of that set-up gets the same answer until someone fixes it.
SETUP = {INVALID_API_KEY, INVALID_PARTNER_IDENTIFIER, NOT_ALLOWED}

# HTTP statuses without a result code that mean "the same request, later": request timeout, too early,
# too many requests, and every 5xx (checked separately).
RETRY_LATER_HTTP = {408, 425, 429}


def general_code(code: int) -> int:
    """The general code of a group: 141 -> 100, 322 -> 300, 11 -> 0."""
    return (code // 100) * 100


def is_success(code: int) -> bool:
    return general_code(code) == SUCCESS


def meaning(code: int) -> str:
    """The codes table's words for ``code``, falling back to its group."""
    if code in MEANINGS:
        return MEANINGS[code]
    group = GROUPS.get(code // 100)
    return f"{group} (code {code})" if group else f"Unknown result code {code}"
