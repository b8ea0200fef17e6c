"""The built-in ``irve`` profile: France's static charging schema ("schéma IRVE statique").

Each row is one point de charge (an EVSE); its station's columns repeat on
every row. The schema (etalab/schema-irve, versions 2.2/2.3 and 3) gives what
OIOI needs almost field for field:

- ``id_station_itinerance`` and ``id_pdc_itinerance`` are AFIREV ids
  (``FRA68P68021001``, ``FRA68E680210015``), kept as given: a point's id is an
  EVSE id of the OIOI form and holds the operator id (``FR*A68``);
- the position is ``coordonneesXY`` ("[lon, lat]") up to 2.3 and
  ``station_latitude`` / ``station_longitude`` from 3 on;
- ``adresse_station`` is the one-line address ("1 avenue de la Paix 75001
  Paris"); ``code_insee_commune`` is a commune code, never the postcode
  (version 3 adds ``code_postal``);
- one boolean column per plug (``prise_type_2``, ``prise_type_combo_ccs``,
  ``prise_type_chademo``, ``prise_type_ef``, ``prise_type_autre``, 3:
  ``prise_type_mcs``): every plug that is there is a connector sharing the
  point's EVSE id, with ``puissance_nominale`` (3: ``puissance_nominale_kw``);
- ``horaires`` is OSM opening_hours or "24/7"; ``telephone_operateur`` the hotline.

The schema has no country column: these are French stations.
"""

from ..oioi.vocabulary import ConnectorType
from . import aliases
from .mapping import Mapping
from .reader import RawSheet

__all__ = ["NAME", "PLUGS", "irve_mapping", "missing_columns", "default_mapping"]

NAME = "irve"

# The plugs of the schema; "autre" (other) and MCS have no OIOI connector name.
PLUGS = {
    "prise_type_2": ConnectorType.TYPE2.value,
    "prise_type_combo_ccs": ConnectorType.COMBO.value,
    "prise_type_chademo": ConnectorType.CHADEMO.value,
    "prise_type_ef": ConnectorType.TYPE_E.value,  # E/F: in France the socket is type E
    "prise_type_autre": "",
    "prise_type_mcs": "",
}
# Each field: the schema's column names, newest version first.
_COLUMNS = {
    "station_id": ["id_station_itinerance"],
    "station_name": ["nom_station"],
    "phone": ["telephone_operateur"],
    "email": ["contact_operateur"],
    "evse_id": ["id_pdc_itinerance"],
    "speed_kw": ["puissance_nominale_kw", "puissance_nominale"],
    "total_parking": ["nb_places"],
}
_ADDRESS = "adresse_station"
_ZIP = "code_postal"  # version 3
_XY = "coordonneesXY"  # up to 2.3: "[lon, lat]"
_LATITUDE, _LONGITUDE = ["station_latitude", "latitude"], ["station_longitude", "longitude"]
_HOURS = "horaires"
_REQUIRED = ["id_station_itinerance", "id_pdc_itinerance", _ADDRESS, "nom_station"]


def _find(by_fold: dict[str, str], names: list[str]) -> str | None:
    return next((by_fold[aliases.fold(n)] for n in names if aliases.fold(n) in by_fold), None)


def missing_columns(headers: list[str]) -> list[str]:
    """The schema's columns the profile needs that these headers lack ([] for an IRVE file)."""
    by_fold = aliases.headers_by_fold(headers)
    missing = [n for n in _REQUIRED if aliases.fold(n) not in by_fold]
    if not (_find(by_fold, [_XY]) or (_find(by_fold, _LATITUDE) and _find(by_fold, _LONGITUDE))):
        missing.append(f"{_XY} (or station_latitude and station_longitude)")
    if not _find(by_fold, _COLUMNS["speed_kw"]):
        missing.append("puissance_nominale")
    if not any(aliases.fold(p) in by_fold for p in PLUGS):
        missing.append("prise_type_2 (and the other prise_type_* columns)")
    return missing


def irve_mapping(raw: RawSheet) -> tuple[Mapping, str] | None:
    """The mapping for an IRVE file and the schema version its headers show; None when it is no IRVE file."""
    headers = raw.columns
    if missing_columns(headers):
        return None
    by_fold = aliases.headers_by_fold(headers)
    columns: dict[str, str | None] = {name: _find(by_fold, names) for name, names in _COLUMNS.items()}
    xy = _find(by_fold, [_XY])
    latitude, longitude = _find(by_fold, _LATITUDE), _find(by_fold, _LONGITUDE)
    if latitude and longitude:
        columns["latitude"], columns["longitude"] = latitude, longitude
    else:
        columns["latitude"] = columns["longitude"] = xy
    address = by_fold[aliases.fold(_ADDRESS)]
    columns.update({"street": address, "street_number": address, "city": address,
                    "zip": _find(by_fold, [_ZIP]) or address})
    hours = _find(by_fold, [_HOURS])
    if hours:
        columns["is_open_24"] = columns["open_hours"] = hours
    plugs = {by_fold[aliases.fold(p)]: kind for p, kind in PLUGS.items() if aliases.fold(p) in by_fold}
    version = "v3" if latitude or _find(by_fold, [_ZIP, "puissance_nominale_kw", "prise_type_mcs"]) else "v2.2/2.3"
    mapping = Mapping(columns={k: v for k, v in columns.items() if v}, constants={"country": "FR"}, plugs=plugs)
    return mapping, version


def default_mapping() -> Mapping:
    """The profile as listed among the built-in ones: the 2.3 layout (applying it adapts to the file's version)."""
    return Mapping(
        columns={"station_id": "id_station_itinerance", "station_name": "nom_station", "latitude": _XY,
                 "longitude": _XY, "street": _ADDRESS, "street_number": _ADDRESS, "city": _ADDRESS, "zip": _ADDRESS,
                 "phone": "telephone_operateur", "email": "contact_operateur", "is_open_24": _HOURS,
                 "open_hours": _HOURS, "evse_id": "id_pdc_itinerance", "speed_kw": "puissance_nominale"},
        constants={"country": "FR"},
        plugs={p: kind for p, kind in PLUGS.items() if p != "prise_type_mcs"},
    )
