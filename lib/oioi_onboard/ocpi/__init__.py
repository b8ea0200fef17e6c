"""OCPI 2.2.1, the CPO's own back end as a source: its models, the JSON files of Locations, and the
mapping of Locations onto the canonical frame.

``__all__`` names what the app and the command use.
"""

from .._surface import public_surface

# Loaded on first use: ``files`` keeps pydantic out until a file turns out to be JSON, and importing
# ``models`` here would load it into every ``oioi-onboard validate``.
__all__, __getattr__ = public_surface(__name__, modules=[], names={
    "files": ["LocationsFile"],
})
