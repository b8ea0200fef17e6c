"""The few end-to-end jobs: the one place that chains sheets -> store -> sync.

Pages, the CLI and the bootstrap call these; none of them wires the steps by hand.
``__all__`` names what the app and the command use: ``imports``, whose steps the import page calls one
by one, and the push's names.
"""

from .._surface import public_surface

# Loaded on first use: each job imports most of the library, and a command runs one of them.
__all__, __getattr__ = public_surface(__name__, modules=["imports", "ocpi"], names={
    "ocpi_pulls": ["run_pulls"],
    "push": ["Credentials", "Interrupted", "format_eta", "push_file", "start_push"],
})
