"""The dashboard's own database: tables and migrations, sessions, accounts and permissions, encrypted
secrets, CPO registration and connection, and the queries scoped to the acting person.

``__all__`` names what the app and the command use: modules they call through (``queries.get_cpo``)
and names from the others.
"""

from .._surface import public_surface

# Loaded on first use: importing every module here would load SQLModel, SQLAlchemy and pandas into
# commands that never open the database (``oioi-onboard validate`` without ``--cpo``).
__all__, __getattr__ = public_surface(
    __name__,
    modules=["connection", "ocpi_connection", "onboarding", "profiles", "queries", "registry"],
    names={
        "auth": ["SYSTEM", "AccountError", "Actor", "TooManyAttempts", "actor_for_email", "actor_for_user",
                 "command_line_actor", "authenticate", "change_password", "create_user", "grantable_roles",
                 "list_users", "set_password"],
        "db": ["DatabaseFull", "current_revision", "get_engine", "head_revision", "migrate", "new_revision",
               "schema_differences", "session_scope"],
        "models": ["Role"],
        "secrets": ["SESSION_SECONDS", "session_token", "session_user"],
        "stations": ["import_history", "upload_drops"],
    },
)
