"""Write sample_data/demo_network.csv: the demo CPO's (operator id DE*DMO) valid network.

Deterministic (fixed seed, no clock): running it twice gives the same bytes.
280 stations in eight German cities around real city centres; every one of
the 19 OIOI connector types at least once; some EVSEs offer two connector
types under one EVSE id. Every row is valid, so the validator finds no errors.

    python sample_data/make_demo_network.py
"""

import csv
import io
import random
from pathlib import Path

OPERATOR_ID = "DE*DMO"
STATIONS_PER_CITY = 35

# city, code for ids, centre (lat, lon), postcodes, hotline, streets
CITIES = [
    ("Mannheim", "MA", (49.4875, 8.4660), ["68159", "68161", "68163", "68165"], "+49 621 1234567",
     ["Luisenring", "Kaiserring", "Augustaanlage", "Seckenheimer Straße", "Friedrichsring", "Collinistraße"]),
    ("Berlin", "BE", (52.5200, 13.4050), ["10115", "10117", "10178", "10243"], "+49 30 12345678",
     ["Invalidenstraße", "Friedrichstraße", "Karl-Marx-Allee", "Torstraße", "Chausseestraße", "Warschauer Straße"]),
    ("Hamburg", "HH", (53.5511, 9.9937), ["20095", "20097", "20354", "22767"], "+49 40 3360000",
     ["Mönckebergstraße", "Jungfernstieg", "Große Elbstraße", "Spaldingstraße", "Amsinckstraße"]),
    ("München", "MU", (48.1372, 11.5756), ["80331", "80333", "80335", "81667"], "+49 89 2330000",
     ["Sonnenstraße", "Leopoldstraße", "Rosenheimer Straße", "Dachauer Straße", "Landsberger Straße"]),
    ("Köln", "KO", (50.9375, 6.9603), ["50667", "50668", "50672", "50679"], "+49 221 2210",
     ["Hohenzollernring", "Aachener Straße", "Deutz-Mülheimer Straße", "Subbelrather Straße", "Venloer Straße"]),
    ("Frankfurt am Main", "FR", (50.1109, 8.6821), ["60311", "60313", "60329", "60486"], "+49 69 2120",
     ["Mainzer Landstraße", "Hanauer Landstraße", "Eschersheimer Landstraße", "Kurt-Schumacher-Straße"]),
    ("Leipzig", "LE", (51.3397, 12.3731), ["04109", "04103", "04177", "04275"], "+49 341 1230",
     ["Karl-Liebknecht-Straße", "Georgiring", "Jahnallee", "Prager Straße", "Eisenbahnstraße"]),
    ("Stuttgart", "ST", (48.7758, 9.1829), ["70173", "70174", "70182", "70190"], "+49 711 2160",
     ["Königstraße", "Heilbronner Straße", "Neckarstraße", "Hauptstätter Straße", "Rotebühlstraße"]),
]

# Type -> typical powers in kW. All 19 OIOI names.
POWERS = {
    "Type2": ["11", "22"], "Combo": ["50", "150", "300"], "Chademo": ["50"], "Schuko": ["3.7"],
    "Type3": ["22"], "CeeBlue": ["3.7"], "3PinSquare": ["3"], "Type1": ["7.4"], "CeeRed": ["11", "22"],
    "Cee2Poles": ["3.7"], "Tesla": ["150"], "Scame": ["22"], "Nema5": ["1.8"], "CeePlus": ["22"],
    "T13": ["2.3"], "T15": ["11"], "T23": ["3.7"], "Marechal": ["22"], "TypeE": ["3.7"],
}
RARE = [t for t in POWERS if t not in ("Type2", "Combo", "Chademo", "Schuko")]
PLACES = ["Parkhaus", "Marktplatz", "Bahnhof", "Rathaus", "Einkaufszentrum", "Klinikum", "Stadtwerke", "Messe",
          "Hochschule", "Sportpark", "Hafen", "Museum", "Theater", "Zoo", "Schwimmbad"]
HEADER = [
    "station_id", "station_name", "description", "latitude", "longitude", "street", "street_number", "city", "zip",
    "country", "phone", "fax", "web", "email", "cpo_id", "is_open_24", "open_hours", "notes", "is_reservable",
    "floor_level", "is_free_charge", "total_parking", "is_green_power_available", "is_plugin_charge", "is_roofed",
    "is_private", "evse_id", "connector_type", "speed_kw",
]


def _evses(rng: random.Random, station_number: int) -> list[list[str]]:
    """The EVSEs of one station, each a list of one or two connector types."""
    if station_number < len(RARE):
        return [[RARE[station_number]], ["Type2"]]  # every rare type once, early on
    shape = rng.random()
    if shape < 0.15:
        return [["Combo", "Chademo"], ["Combo"], ["Type2"]]  # a fast charger: one EVSE, two cables
    if shape < 0.35:
        return [["Type2", "Schuko"], ["Type2", "Schuko"]]  # one EVSE, two sockets, one status
    if shape < 0.45:
        return [["Combo"], ["Combo"], ["Combo"], ["Combo"]]
    return [["Type2"] for _ in range(rng.choice([1, 2, 2, 2, 4]))]


def rows() -> list[list[str]]:
    rng = random.Random(20190719)
    out = []
    number = 0
    for city, code, (lat0, lon0), zips, phone, streets in CITIES:
        for k in range(STATIONS_PER_CITY):
            station_id = f"{OPERATOR_ID}*S{code}{k + 1:04d}"
            street = rng.choice(streets)
            house = str(rng.randint(1, 140)) + rng.choice(["", "", "", "a", "b"])
            place = PLACES[(k + number) % len(PLACES)]
            open_24 = rng.random() < 0.8
            roofed = place in ("Parkhaus", "Einkaufszentrum", "Messe")
            station = {
                "station_id": station_id,
                "station_name": f"{place} {street}",
                "description": f"Demo station {k + 1} in {city}",
                "latitude": f"{lat0 + rng.uniform(-0.04, 0.04):.6f}",
                "longitude": f"{lon0 + rng.uniform(-0.06, 0.06):.6f}",
                "street": street,
                "street_number": house,
                "city": city,
                "zip": rng.choice(zips),
                "country": "DE",
                "phone": phone,
                "fax": "",
                "web": "https://demo-cpo.example.com/stations",
                "email": "service@demo-cpo.example.com",
                "cpo_id": OPERATOR_ID,
                "is_open_24": "yes" if open_24 else "no",
                "open_hours": "" if open_24 else rng.choice(
                    ["Mo-Fr 07:00-20:00; Sa 08:00-18:00", "Mo-Sa 06:00-22:00", "Mo-Su 08:00-20:00"]
                ),
                "notes": f"Level -1, bay {k + 10}" if roofed else "",
                "is_reservable": rng.choice(["yes", "no", "no"]),
                "floor_level": "-1" if roofed else "0",
                "is_free_charge": rng.choice(["no", "no", "no", "yes"]),
                "total_parking": "",
                "is_green_power_available": "yes",
                "is_plugin_charge": rng.choice(["no", "yes"]),
                "is_roofed": "yes" if roofed else "no",
                "is_private": "no",
            }
            evses = _evses(rng, number)
            station["total_parking"] = str(len(evses))
            for e, types in enumerate(evses, start=1):
                for connector_type in types:
                    out.append([
                        *(station[name] for name in HEADER[:-3]),
                        f"{OPERATOR_ID}*E{code}{k + 1:04d}*{e}",
                        connector_type,
                        rng.choice(POWERS[connector_type]),
                    ])
            number += 1
    return out


def demo_network_csv() -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows())
    return buffer.getvalue().encode("utf-8")


if __name__ == "__main__":
    target = Path(__file__).resolve().parent / "demo_network.csv"
    target.write_bytes(demo_network_csv())
    print(f"wrote {target}")
