"""OCPI 2.2.1, the protocol of the CPO's own back end: a source of stations and statuses beside files.

- ``models``: the objects as we read and answer them (envelope, versions, Locations);
- ``files``: a JSON file of Locations, in each of the shapes it comes in;
- ``mapping``: Locations onto the canonical frame and an issue table, EVSE statuses onto OIOI's;
- ``client`` and ``errors``: pulling Locations from the CPO's back end, and the ways that fails;
- ``sandbox``: an OCPI CPO back end to pull from and be pushed by (``oioi-onboard ocpi-sandbox``).

``workflows.ocpi`` takes what is pulled through the one import pipeline. ``__all__`` names what the
app and the command use.
"""

from .._surface import public_surface

# Loaded on first use: ``files`` keeps pydantic out until a file turns out to be JSON, and importing
# ``models`` here would load it into every ``oioi-onboard validate``.
__all__, __getattr__ = public_surface(__name__, modules=["sandbox"], names={
    "files": ["LocationsFile"],
    "credentials": ["create_registration_token"],
    "receiver": ["VERSIONS_PATH"],
})
