"""Writes the station files real CPOs send, in shapes this importer must map with no manual step.

Run ``python tests/data/sheets/make_real_files.py`` to (re)write them; a test
checks that the committed files are exactly what this script writes. All
values are invented (stations, ids, phone numbers); the layouts are those of
their sources:

- ``irve_v23.csv``, ``irve_v3.csv``: France's static IRVE schema (etalab/schema-irve),
  version 2.2/2.3 (``coordonneesXY``, ``puissance_nominale``) and 3
  (``station_latitude``/``station_longitude``, ``code_postal``, ``puissance_nominale_kw``,
  ``prise_type_mcs``), one row per point de charge, AFIREV ids;
- ``addresses_street_first.csv``: one-line addresses "Street 12, 12345 City" (DE, AT, NL, BE, CH),
  coordinates "[lon, lat]" in one column;
- ``addresses_number_first.csv``: "12 rue X, 75001 Paris" (FR), coordinates as WKT ``POINT(lon lat)``;
- ``addresses_gb.csv``: "12 High Street, London SW1A 1AA", coordinates "lat, lon";
- ``plugs_yes_no.csv``: one row per EVSE, one ja/nein column per plug type (German headers).
"""

import csv
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent

IRVE_V23 = [
    "nom_amenageur", "siren_amenageur", "contact_amenageur", "nom_operateur", "contact_operateur",
    "telephone_operateur", "nom_enseigne", "id_station_itinerance", "id_station_local", "nom_station",
    "implantation_station", "adresse_station", "code_insee_commune", "coordonneesXY", "nbre_pdc",
    "id_pdc_itinerance", "id_pdc_local", "puissance_nominale", "prise_type_ef", "prise_type_2",
    "prise_type_combo_ccs", "prise_type_chademo", "prise_type_autre", "gratuit", "paiement_acte", "paiement_cb",
    "paiement_autre", "tarification", "condition_acces", "reservation", "horaires", "accessibilite_pmr",
    "restriction_gabarit", "station_deux_roues", "raccordement", "num_pdl", "date_mise_en_service", "observations",
    "date_maj", "cable_t2_attache",
]
IRVE_V3 = [
    "nom_amenageur", "siren_amenageur", "contact_amenageur", "nom_operateur", "contact_operateur",
    "telephone_operateur", "nom_enseigne", "id_station_itinerance", "id_station_local", "nom_station",
    "adresse_station", "complement_localisation", "code_postal", "code_insee_commune", "station_latitude",
    "station_longitude", "nbre_pdc", "puissance_maximale_station_kw", "id_pdc_itinerance", "id_pdc_local",
    "puissance_nominale_kw", "nb_connecteurs", "prise_type_ef", "prise_type_2", "prise_type_combo_ccs",
    "prise_type_chademo", "prise_type_mcs", "prise_type_autre", "courant_ac", "courant_dc", "plug_and_charge",
    "recharge_intelligente", "gratuit", "paiement_cb", "cb_sans_contact", "paiement_autre", "complement_paiement",
    "abonnement", "emsp", "tarif_ids", "condition_acces", "reservation", "horaires", "accessibilite_pmr", "nb_places",
    "nb_places_pmr", "restriction_gabarit", "gabarit_masse_max_t", "gabarit_hauteur_max_m", "gabarit_longueur_max_m",
    "gabarit_largeur_max_m", "type_vehicule", "presence_borniste", "equipement_afir", "equipement_ocpi",
    "equipement_autre", "raccordement", "num_pdl", "enr", "date_mise_en_service", "observations", "horodatage_maj",
]

# Three stations of an invented operator (AFIREV trigram A68), four points de charge.
_STATIONS = [
    {"id": "FRA68P68224001", "name": "Mulhouse Gare", "address": "12 Rue de la République 68100 Mulhouse",
     "insee": "68224", "zip": "68100", "lon": "7.3425", "lat": "47.7420", "hours": "24/7", "places": "4"},
    {"id": "FRA68P68224002", "name": "Parking Porte Jeune", "address": "2 bis Place de la Réunion 68100 Mulhouse",
     "insee": "68224", "zip": "68100", "lon": "7.3389", "lat": "47.7469", "places": "",
     "hours": "Mo-Fr 08:00-12:00,Mo-Fr 14:00-18:00,Th 08:00-18:00"},
    {"id": "FRA68P67482001", "name": "Strasbourg Boulevard de Metz", "address": "5 Boulevard de Metz 67000 Strasbourg",
     "insee": "67482", "zip": "67000", "lon": "7.7349", "lat": "48.5851", "hours": "24/7", "places": "2"},
]
# (station, point id, kW, plugs that are there)
_POINTS = [
    (0, "FRA68E682240011", "22", {"prise_type_2", "prise_type_ef"}),
    (0, "FRA68E682240012", "50", {"prise_type_combo_ccs", "prise_type_chademo"}),
    (1, "FRA68E682240021", "7.4", {"prise_type_2"}),
    (2, "FRA68E674820011", "150", {"prise_type_combo_ccs"}),
]


def _irve_row(station: dict, point: str, kw: str, plugs: set[str], version: str) -> dict[str, str]:
    count = str(sum(1 for s, *_ in _POINTS if _STATIONS[s] is station))
    row = {
        "nom_amenageur": "Ville de Mulhouse", "siren_amenageur": "216802249",
        "contact_amenageur": "irve@mulhouse.example.fr", "nom_operateur": "Recharge Alsace SAS",
        "contact_operateur": "support@recharge-alsace.example.fr", "telephone_operateur": "0389123456",
        "nom_enseigne": "Recharge Alsace", "id_station_itinerance": station["id"], "id_station_local": "",
        "nom_station": station["name"], "adresse_station": station["address"],
        "code_insee_commune": station["insee"], "nbre_pdc": count, "id_pdc_itinerance": point, "id_pdc_local": "",
        "gratuit": "false", "paiement_cb": "true", "paiement_autre": "false", "condition_acces": "Accès libre",
        "reservation": "false", "horaires": station["hours"], "accessibilite_pmr": "Accessible mais non réservé PMR",
        "restriction_gabarit": "Hauteur maximale 2m", "raccordement": "Direct", "num_pdl": "12345678912345",
        "date_mise_en_service": "2023-05-02", "observations": "",
    }
    for plug in ("prise_type_ef", "prise_type_2", "prise_type_combo_ccs", "prise_type_chademo", "prise_type_autre",
                 "prise_type_mcs"):
        row[plug] = "true" if plug in plugs else "false"
    if version == "v3":
        row.update({
            "complement_localisation": "", "code_postal": station["zip"], "station_latitude": station["lat"],
            "station_longitude": station["lon"], "puissance_maximale_station_kw": "", "puissance_nominale_kw": kw,
            "nb_connecteurs": str(len(plugs)), "courant_ac": str(float(kw) <= 43).lower(),
            "courant_dc": str(float(kw) > 43).lower(), "plug_and_charge": "", "recharge_intelligente": '["remote"]',
            "cb_sans_contact": "true", "complement_paiement": "", "abonnement": "true", "emsp": '["FRMOB"]',
            "tarif_ids": '["FRA68T001"]', "nb_places": station["places"], "nb_places_pmr": "",
            "gabarit_masse_max_t": "",
            "gabarit_hauteur_max_m": "2", "gabarit_longueur_max_m": "", "gabarit_largeur_max_m": "",
            "type_vehicule": '["M1"]', "presence_borniste": "", "equipement_afir": "[]", "equipement_ocpi": "[]",
            "equipement_autre": "[]", "enr": "", "horodatage_maj": "2026-01-15T10:00:00Z",
        })
        return {name: row.get(name, "") for name in IRVE_V3}
    row.update({
        "implantation_station": "Voirie", "coordonneesXY": f"[{station['lon']}, {station['lat']}]",
        "puissance_nominale": kw, "paiement_acte": "true", "tarification": "0,40€ / kWh",
        "station_deux_roues": "false", "date_maj": "2026-01-15", "cable_t2_attache": "false",
    })
    return {name: row[name] for name in IRVE_V23}


def _csv(header: list[str], rows: list[dict[str, str]] | list[list[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[name] for name in header] if isinstance(row, dict) else row)
    return buffer.getvalue().encode("utf-8")


_ADDRESS_HEADER = ["Station ID", "Name", "Address", "Coordinates", "Country", "Hotline", "Operator ID", "EVSE ID",
                   "Connector", "kW", "24h"]


def files() -> dict[str, bytes]:
    irve = {version: [_irve_row(_STATIONS[s], point, kw, plugs, version) for s, point, kw, plugs in _POINTS]
            for version in ("v2.3", "v3")}
    street_first = [
        ["DE*ABC*S1", "Luisenring", "Luisenring 49a, 68159 Mannheim", "[8.4660, 49.4875]", "DE",
         "+49 621 1234567", "DE*ABC", "DE*ABC*E1001", "Type 2", "22", "yes"],
        ["DE*ABC*S1", "Luisenring", "Luisenring 49a, 68159 Mannheim", "[8.4660, 49.4875]", "DE",
         "+49 621 1234567", "DE*ABC", "DE*ABC*E1002", "CCS", "50", "yes"],
        ["AT*ABC*S2", "Stephansplatz", "Stephansplatz 1, 1010 Wien", "[16.3725, 48.2085]", "AT",
         "+43 1 5123456", "AT*ABC", "AT*ABC*E2001", "Type 2", "11", "yes"],
        ["NL*ABC*S3", "Kerkstraat", "Kerkstraat 12, 1017 GC Amsterdam", "[4.8897, 52.3645]", "NL",
         "+31 20 1234567", "NL*ABC", "NL*ABC*E3001", "Type 2", "11", "yes"],
        ["BE*ABC*S4", "Rue de la Loi", "Rue de la Loi 16, 1000 Bruxelles", "[4.3680, 50.8466]", "BE",
         "+32 2 511 22 33", "BE*ABC", "BE*ABC*E4001", "Type 2", "22", "no"],
        ["CH*ABC*S5", "Bahnhofstrasse", "Bahnhofstrasse 1, 8001 Zürich", "[8.5390, 47.3700]", "CH",
         "+41 44 123 45 67", "CH*ABC", "CH*ABC*E5001", "CHAdeMO", "50", "yes"],
    ]
    number_first = [
        ["FR*ABC*S1", "Rivoli", "12 rue de Rivoli, 75004 Paris", "POINT(2.3540 48.8556)", "FR",
         "+33 1 42 76 40 40", "FR*ABC", "FR*ABC*E1001", "Type 2", "22", "yes"],
        ["FR*ABC*S2", "Quai Kléber", "3 Quai Kléber 67000 Strasbourg", "POINT(7.7430 48.5839)", "FR",
         "+33 3 88 12 34 56", "FR*ABC", "FR*ABC*E2001", "CCS", "150", "yes"],
        ["FR*ABC*S3", "Jean Jaurès", "8 bis Avenue Jean Jaurès, 69007 Lyon", "POINT(4.8420 45.7480)", "FR",
         "+33 4 72 12 34 56", "FR*ABC", "FR*ABC*E3001", "Type 2", "7.4", "no"],
    ]
    british = [
        ["GB*ABC*S1", "Downing Street", "10 Downing Street, London SW1A 2AA", "51.5034, -0.1276", "GB",
         "+44 20 7946 0958", "GB*ABC", "GB*ABC*E1001", "Type 2", "7", "yes"],
        ["GB*ABC*S2", "Baker Street", "221B Baker Street, London NW1 6XE", "51.5238, -0.1586", "GB",
         "+44 20 7946 0959", "GB*ABC", "GB*ABC*E2001", "CCS", "50", "yes"],
        ["GB*ABC*S3", "Deansgate", "1 Deansgate, Manchester M3 1AZ", "53.4839, -2.2446", "GB",
         "+44 161 496 0000", "GB*ABC", "GB*ABC*E3001", "Type 2", "22", "no"],
    ]
    plug_header = ["Standort-ID", "Standortname", "Straße", "Hausnummer", "PLZ", "Ort", "Land", "Breitengrad",
                   "Längengrad", "Telefon", "Betreiber-ID", "EVSE-ID", "Leistung kW", "Typ 2", "CCS", "CHAdeMO",
                   "Schuko", "24h geöffnet"]
    plugs = [
        ["DE*ABC*S1", "Marktplatz", "Marktplatz", "1", "68161", "Mannheim", "DE", "49,4878", "8,4662",
         "+49 621 1234567", "DE*ABC", "DE*ABC*E1*1", "22", "ja", "nein", "nein", "ja", "ja"],
        ["DE*ABC*S1", "Marktplatz", "Marktplatz", "1", "68161", "Mannheim", "DE", "49,4878", "8,4662",
         "+49 621 1234567", "DE*ABC", "DE*ABC*E1*2", "50", "nein", "ja", "ja", "nein", "ja"],
        ["DE*ABC*S2", "Wasserturm", "Friedrichsplatz", "5", "68165", "Mannheim", "DE", "49,4840", "8,4754",
         "+49 621 1234567", "DE*ABC", "DE*ABC*E2*1", "11", "ja", "nein", "nein", "nein", "nein"],
    ]
    return {
        "irve_v23.csv": _csv(IRVE_V23, irve["v2.3"]),
        "irve_v3.csv": _csv(IRVE_V3, irve["v3"]),
        "addresses_street_first.csv": _csv(_ADDRESS_HEADER, street_first),
        "addresses_number_first.csv": _csv(_ADDRESS_HEADER, number_first, delimiter=";"),
        "addresses_gb.csv": _csv(_ADDRESS_HEADER, british),
        "plugs_yes_no.csv": _csv(plug_header, plugs, delimiter=";"),
    }


if __name__ == "__main__":
    for name, data in files().items():
        (HERE / name).write_bytes(data)
        print(f"wrote {name} ({len(data):,} bytes)")
