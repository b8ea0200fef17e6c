"""The OIOI protocol: its vocabulary, typed messages, ids, result codes and errors, the HTTP client, the
one retry policy, and a local receiver to push against (``sandbox``).

``__all__`` names what the app and the command use; the other modules serve the packages built on this one.
"""

from .._surface import public_surface

# Loaded on first use: the sheet checks import ``vocabulary`` alone, and importing every module here would
# load pydantic, httpx and aiohttp into ``oioi-onboard validate``.
__all__, __getattr__ = public_surface(__name__, modules=["ids", "sandbox"], names={
    "retry": ["WORKER_BACKOFF_BASE", "WORKER_BACKOFF_MAX"],
    "vocabulary": ["STATUSES"],
})
