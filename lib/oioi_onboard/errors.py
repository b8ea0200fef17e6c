"""The root of every error the application expects, and what each kind means to a user.

    OnboardError                 the message is written for the user; never a traceback
    ├── UserError                input that cannot be used: a file, a form field, an option
    ├── PermissionDenied         the acting person may not see or change this
    ├── NotFound                 no such CPO, profile, token, station ...
    ├── Conflict                 the current state forbids it (confirmation needed, id taken)
    ├── ConfigError              the set-up is wrong: secret key, database, settings
    └── EndpointError            an endpoint failed or refused: OIOI's (``oioi.errors.OioiError``) or the
                                 CPO's OCPI back end (``ocpi.errors.OcpiError``)

Each area raises a subclass that names its own case (``SheetError``,
``RegistrationError`` ...). The CLI maps them to exit codes in ``cli/``; pages
show them with ``common.show_error``. ``exit_code`` is 2 for all of them: the
command could not do its job (1 is kept for "done, but the file has errors or
not everything was acknowledged", which is a result, not an exception).
"""

__all__ = ["OnboardError", "UserError", "PermissionDenied", "NotFound", "Conflict", "ConfigError", "EndpointError"]


class OnboardError(Exception):
    """Base of every expected failure; ``str(error)`` is a message for the user."""

    exit_code = 2


class UserError(OnboardError, ValueError):
    """Input that cannot be used as given; the message says where and what."""


class PermissionDenied(OnboardError):
    """The acting person may not see or change this."""


class NotFound(OnboardError, LookupError):
    """The thing asked for does not exist (or is not visible to the acting person)."""


class Conflict(OnboardError):
    """The current state forbids the change until something else happens first."""


class ConfigError(OnboardError):
    """The installation is not set up right: secret key, database, settings."""


class EndpointError(OnboardError):
    """An endpoint (OIOI's, or a CPO's OCPI back end) could not be reached, failed, or refused the request."""
