"""Build the offline base map: Natural Earth countries and first-order regions of Europe, clipped and simplified.

Natural Earth (https://www.naturalearthdata.com) is in the public domain. Inputs,
as GeoJSON (convert a shapefile with ``ogr2ogr -f GeoJSON``):

- ``ne_50m_admin_0_countries`` (countries, 1:50m),
- ``ne_10m_admin_1_states_provinces`` (states, provinces, counties, 1:10m).

Run (shapely comes with the project's test extra; the product itself never needs it):

    python tools/build_basemap.py ne_50m_admin_0_countries.geojson ne_10m_admin_1_states_provinces.geojson

It writes ``app/static/basemap/countries.json`` and ``regions.json``, two GeoJSON
feature collections (served to the browser as static files): ``countries`` (one
polygon feature per country, its name) and ``regions`` (per European country,
the borders between its first-order regions as lines; coasts and national
borders are the countries' outlines, drawn once), coordinates rounded to
``DECIMALS`` places. Countries with more than ``DISSOLVE_ABOVE`` first-order
units (France's departments, Italy's provinces, the United Kingdom's counties)
are shown by the regions Natural Earth groups them into, so the layers stay a
few hundred kilobytes.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from shapely import set_precision
from shapely.geometry import MultiLineString, box, mapping, shape
from shapely.ops import linemerge, unary_union

OUT = Path(__file__).resolve().parents[1] / "app" / "static" / "basemap"
EUROPE = box(-25.0, 27.0, 45.0, 72.0)  # lon/lat: Iceland and the Canaries to the Caucasus, Crete to the Nordkapp
COUNTRY_TOLERANCE = 0.02  # degrees (~2 km): invisible below zoom 8, where a base map for context is looked at
REGION_TOLERANCE = 0.03
DECIMALS = 3  # ~100 m
DISSOLVE_ABOVE = 25  # first-order units per country; above, Natural Earth's "region" grouping is drawn
MIN_AREA = 0.002  # square degrees: islets smaller than this (~15 km²) are left out
MIN_LINE = 0.02  # degrees: bits of border left over where regions meet the coast


def _rounded(geometry: dict) -> dict:
    def walk(value):  # noqa: ANN001, ANN202
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (int, float)):
            return [round(value[0], DECIMALS), round(value[1], DECIMALS)]
        return [walk(item) for item in value]

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def _clean(geometry, tolerance: float):  # noqa: ANN001, ANN202
    """Clipped to Europe, simplified, rounded; None when nothing of it is left."""
    clipped = geometry.intersection(EUROPE)
    if clipped.is_empty:
        return None
    simple = clipped.simplify(tolerance, preserve_topology=True)
    parts = [part for part in getattr(simple, "geoms", [simple]) if part.geom_type == "Polygon"
             and part.area >= MIN_AREA]
    if not parts:
        return None
    kept = set_precision(unary_union(parts), 10 ** -DECIMALS)
    return None if kept.is_empty else kept


def _feature(name: str, geometry) -> dict:  # noqa: ANN001
    return {"type": "Feature", "properties": {"name": name}, "geometry": _rounded(mapping(geometry))}


def countries(path: Path) -> list[dict]:
    features = []
    for feature in json.loads(path.read_text(encoding="utf-8"))["features"]:
        props = {key.lower(): value for key, value in feature["properties"].items()}
        geometry = _clean(shape(feature["geometry"]), COUNTRY_TOLERANCE)
        if geometry is not None:
            features.append(_feature(props["name"], geometry))
    return sorted(features, key=lambda f: f["properties"]["name"])


def regions(path: Path, european: set[str]) -> list[dict]:
    """The borders between first-order regions as lines, one feature per country (coasts and borders between
    countries are the countries' own outlines: drawn once, not again here)."""
    by_country: dict[str, list[dict]] = defaultdict(list)
    for feature in json.loads(path.read_text(encoding="utf-8"))["features"]:
        props = feature["properties"]
        if props["adm0_a3"] in european:
            by_country[props["adm0_a3"]].append(feature)
    features = []
    for units in by_country.values():
        grouped: dict[str, list] = defaultdict(list)
        grouped_by_region = sum(bool(unit["properties"].get("region")) for unit in units) >= 0.8 * len(units)
        dissolve = len(units) > DISSOLVE_ABOVE and grouped_by_region
        for unit in units:
            props = unit["properties"]
            group = (props.get("region") or props["name"]) if dissolve else props["name"]
            grouped[group].append(shape(unit["geometry"]).buffer(0))
        parts = [unary_union(shapes) for shapes in grouped.values()]
        if len(parts) < 2:
            continue
        outline = unary_union(parts).boundary.buffer(0.01)
        inner = unary_union([part.boundary for part in parts]).difference(outline).intersection(EUROPE)
        inner = _lines(inner)
        if inner is not None:
            features.append(_feature(units[0]["properties"]["admin"], inner))
    return sorted(features, key=lambda f: f["properties"]["name"])


def _lines(geometry):  # noqa: ANN001, ANN202
    """Lines merged where they meet, simplified, without stubs, rounded; None when none are left."""
    lines = [line for line in getattr(geometry, "geoms", [geometry]) if line.geom_type == "LineString"]
    if not lines:
        return None
    merged = linemerge(lines).simplify(REGION_TOLERANCE)
    kept = [line for line in getattr(merged, "geoms", [merged]) if line.length >= MIN_LINE]
    if not kept:
        return None
    rounded = set_precision(MultiLineString(kept), 10 ** -DECIMALS)
    return None if rounded.is_empty else rounded


def european_countries(path: Path) -> set[str]:
    """ADM0_A3 codes of the countries Natural Earth places in Europe (Russia included, clipped later)."""
    codes = set()
    for feature in json.loads(path.read_text(encoding="utf-8"))["features"]:
        props = {key.lower(): value for key, value in feature["properties"].items()}
        if props["continent"] == "Europe":
            codes.add(props["adm0_a3"])
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("countries", type=Path, help="ne_50m_admin_0_countries as GeoJSON")
    parser.add_argument("regions", type=Path, help="ne_10m_admin_1_states_provinces as GeoJSON")
    parser.add_argument("--out", type=Path, default=OUT, help="the folder of countries.json and regions.json")
    args = parser.parse_args()
    layers = {  # the sources are named in SOURCE.md beside them
        "countries": {"type": "FeatureCollection", "features": countries(args.countries)},
        "regions": {"type": "FeatureCollection", "features": regions(args.regions, european_countries(args.countries))},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, layer in layers.items():
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(layer, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        print(f"{path}: {len(layer['features'])} features, {path.stat().st_size / 1024:.0f} KiB")

if __name__ == "__main__":
    main()
