"""Sending to the OIOI endpoint: the diff against what it acknowledged, the outbox and its controls, the
worker, connector statuses from every source, the status relay, and reading progress and the live map.

``__all__`` names what the app and the command use: modules they call through (``live.live_stations``)
and names from the others.
"""

from .._surface import public_surface

# Loaded on first use: importing every module here would load Starlette, SQLModel and pandas into every
# command that needs one of them.
__all__, __getattr__ = public_surface(
    __name__,
    modules=["live", "progress", "queue_control", "relay", "simulate", "tokens"],
    names={
        "diff": ["KINDS", "mass_replacement", "plan_push"],
        "status_files": ["record_status_file"],
        "status_ingest": ["set_status"],
        "worker": ["run_loop", "run_worker"],
    },
)
