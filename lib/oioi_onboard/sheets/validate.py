"""Validation of the canonical station frame in one vectorised pass.

Every rule of ``station_post.rst`` and the glossary (see ``rules.RULES``) runs
over whole columns at once. Values repeat a lot (station columns are repeated
on each connector row, operators share hotlines), so each column is factorised
once and the expensive checks (e-mail, phone, DIN ids) run on its distinct
values only, then map back to rows through the codes.

An error blocks its station (every row of that station), never the file.
Station-column issues are reported once per station and distinct value, at the
first row that holds it; connector-column issues on every row.
"""

from dataclasses import dataclass, field
from functools import cached_property

import email_validator
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from ..oioi import ids
from ..oioi.vocabulary import ConnectorType
from . import aliases, rules
from .addresses import CITY_STREET_WORDS, zip_fits
from .canonical import BOOLEAN_NAMES, NAMES, REQUIRED, ROW, STATION_NAMES
from .factorize import factorize, is_remembered
from .issues import ISSUE_COLUMNS, Severity, empty_issues

__all__ = ["RegistryContext", "Validation", "validate", "canonical_frame"]

CONNECTOR_NAMES = {t.value for t in ConnectorType}
_CONNECTOR_BY_LOWER = {t.value.lower(): t.value for t in ConnectorType}
_NUMBER_COLUMNS = ["latitude", "longitude", "speed_kw"]
_INTEGER_COLUMNS = ["floor_level", "total_parking"]
_INTEGER_PATTERN = r"[+-]?[0-9]+(?:\.0*)?"
_STATION_SET = set(STATION_NAMES)


@dataclass(frozen=True)
class RegistryContext:
    """What the registry knows, for the checks that need it."""

    operator_ids: frozenset[str]  # operator ids registered to this CPO (canonical "DE*8PS")
    foreign_evse_keys: frozenset[str]  # oioi.ids.normalise_evse_id of EVSE ids stored for other CPOs
    foreign_station_ids: frozenset[str]


@dataclass
class Validation:
    frame: pd.DataFrame  # the canonical frame as validated (strings), with ROW
    issues: pd.DataFrame  # issues.ISSUE_COLUMNS
    station_state: pd.Series  # station_id -> "ok" | "warning" | "error"
    skipped: list[str] = field(default_factory=list)  # rule names not run (no registry context)

    @property
    def stations(self) -> int:
        return len(self.station_state)

    @property
    def connectors(self) -> int:
        return len(self.frame)

    @property
    def errors(self) -> int:
        return int((self.issues["severity"] == Severity.ERROR.value).sum())

    @property
    def warnings(self) -> int:
        return int((self.issues["severity"] == Severity.WARNING.value).sum())

    def valid_station_ids(self) -> list[str]:
        """Stations without errors, in file order."""
        return self.station_state.index[self.station_state != "error"].tolist()

    def blocked_station_ids(self) -> list[str]:
        return self.station_state.index[self.station_state == "error"].tolist()


def canonical_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every canonical column as strings ('' for empty), ROW as int, a fresh index.

    Strings stay in the form they come in: object columns of str (the reader and
    the mapping make them) and Arrow strings (pandas' own) are both read by every
    rule, and converting 30 columns from one form to the other costs more time or
    memory than validating them. Anything else becomes strings.
    """
    n = len(frame)
    data = {}
    for name in NAMES:
        if name in frame.columns:
            column = frame[name]
            if column.dtype == object:
                if not _all_text(column):
                    column = column.astype("str").fillna("")
            elif column.dtype != "str" or column.hasnans:
                column = column.astype("str").fillna("")
            data[name] = column.reset_index(drop=True)
        else:
            data[name] = pd.Series([""] * n, dtype=object)
    if ROW in frame.columns:
        data[ROW] = pd.to_numeric(frame[ROW], errors="coerce").fillna(0).astype("int64").reset_index(drop=True)
    else:
        data[ROW] = pd.Series(np.arange(2, n + 2), dtype="int64")  # the header is row 1
    return pd.DataFrame(data, copy=False)  # the columns as they are, not stacked into one block (a copy)


def _all_text(column: pd.Series) -> bool:
    # Remembered columns are text by construction (sheets.factorize): no need to look at every cell.
    return is_remembered(column) or pd.api.types.infer_dtype(column, skipna=False) in ("string", "empty")


class _Column:
    """One column factorised: per-row codes into its distinct values."""

    def __init__(self, series: pd.Series):
        codes, uniques = factorize(series)  # what the reader or the mapping found, else hashed here
        self.codes = codes
        # The distinct values as in the file: as Python strings for messages (those of an object
        # column as they are: converting back from Arrow makes new ones), as Arrow strings for the rules.
        self._raw_objects = uniques if isinstance(uniques, np.ndarray) else None
        self.raw_u = pd.Series(uniques, dtype="str")
        self.u = self.raw_u.str.strip()  # distinct values, stripped
        self.blank_u = (self.u == "").to_numpy(dtype=bool)
        # Codes that treat "x " and "x" as one value; most columns have no padding at all.
        self.padded = bool((self.u != self.raw_u).any())
        if self.padded:
            norm_codes, norm_uniques = pd.factorize(self.u, sort=False)
            self.norm = norm_codes[codes] if len(codes) else codes
            self._norm_uniques = norm_uniques
        else:
            self.norm = codes
            self._norm_uniques = self.u

    @cached_property
    def raw_values(self) -> np.ndarray:
        return self._raw_objects if self._raw_objects is not None else self.raw_u.to_numpy(dtype=object)

    @cached_property
    def u_values(self) -> np.ndarray:
        return self.u.to_numpy(dtype=object) if self.padded else self.raw_values

    @cached_property
    def norm_values(self) -> np.ndarray:
        """The stripped distinct values that ``norm`` codes index."""
        return np.asarray(self._norm_uniques, dtype=object) if self.padded else self.u_values

    def rows(self, mask_u) -> np.ndarray:
        """A per-distinct-value boolean -> a per-row boolean."""
        mask_u = np.asarray(mask_u, dtype=bool)
        return mask_u[self.codes] if len(self.codes) else np.zeros(0, dtype=bool)

    def values(self, positions: np.ndarray) -> np.ndarray:
        return self.raw_values[self.codes[positions]]

    def stripped(self, positions: np.ndarray) -> np.ndarray:
        return self.u_values[self.codes[positions]]

    def matches(self, pattern: str) -> np.ndarray:
        """Per distinct value: whether it has the form ``pattern``."""
        return self.u.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)

    def id_form(self, pattern: str) -> tuple[np.ndarray, pd.Series, np.ndarray]:
        """Per distinct value of an id column: whether it has the form ``pattern``, its key (no ``*``,
        upper case), and whether it is valid: of that form and beginning with an ISO country."""
        match_u = self.matches(pattern)
        key_u = self.u.str.replace("*", "", regex=False).str.upper()
        return match_u, key_u, match_u & key_u.str[:2].isin(rules.ISO_COUNTRIES).to_numpy(dtype=bool)


class _Checker:
    def __init__(self, frame: pd.DataFrame, context: RegistryContext | None):
        self.frame = frame
        self.context = context
        self.n = len(frame)
        self.rows = frame[ROW].to_numpy()
        self._columns: dict[str, _Column] = {}
        self.parts: list[tuple] = []
        station = self.col("station_id")
        self.scode = station.norm
        self.station_blank = station.blank_u[station.codes] if self.n else np.zeros(0, dtype=bool)
        # Position of each station's first row (factorize numbers codes in order of appearance).
        self.first_pos = pd.Series(self.scode).drop_duplicates().index.to_numpy()

    def col(self, name: str) -> _Column:
        if name not in self._columns:
            self._columns[name] = _Column(self.frame[name])
        return self._columns[name]

    # --- recording -----------------------------------------------------------

    def add(self, rule: str, column: str, mask: np.ndarray, message, per_station: bool | None = None) -> None:
        """Record ``rule`` for the rows in ``mask``; ``message`` is a str or a callable(positions) -> array."""
        positions = np.flatnonzero(mask)
        if per_station is None:
            per_station = column in _STATION_SET
        if per_station and len(positions):
            positions = self._once_per_station(positions, self.col(column).norm)
        if not len(positions):
            return
        text = message(positions) if callable(message) else message
        self.parts.append((positions, column, rule, text))

    def check_form(self, rule: str, name: str, pattern: str, message: str) -> np.ndarray:
        """Record ``rule`` for the filled cells of ``name`` not of the form ``pattern``; returns, per
        distinct value, whether it is of that form."""
        column = self.col(name)
        ok_u = column.matches(pattern)
        self.add(rule, name, column.rows(~column.blank_u & ~ok_u), message)
        return ok_u

    def _once_per_station(self, positions: np.ndarray, value_codes: np.ndarray) -> np.ndarray:
        # One issue per (station, distinct value); rows without a station id each stand alone.
        width = int(value_codes.max()) + 2 if len(value_codes) else 1
        key = self.scode[positions].astype(np.int64) * width + value_codes[positions]
        key = np.where(self.station_blank[positions], -1 - positions.astype(np.int64), key)
        keep = ~pd.Series(key).duplicated().to_numpy()
        return positions[keep]

    def issues(self) -> tuple[pd.DataFrame, np.ndarray]:
        if not self.parts:
            return empty_issues(), np.zeros(0, dtype=object)
        station_values = self.col("station_id").norm_values[self.scode]
        frames, stations = [], []
        for positions, column, rule, text in self.parts:
            column_data = self.col(column)
            frames.append(
                pd.DataFrame(
                    {
                        "row": self.rows[positions],
                        "column": column,
                        "value": column_data.values(positions),
                        "rule": rule,
                        "message": text,
                        "severity": rules.severity_of(rule).value,
                    }
                )
            )
            stations.append(station_values[positions])
        return pd.concat(frames, ignore_index=True), np.concatenate(stations)

    # --- the rules -------------------------------------------------------------

    def required(self) -> None:
        for name in REQUIRED:
            column = self.col(name)
            self.add("required", name, column.rows(column.blank_u), f"{name} is required but empty")

    def numbers(self) -> dict[str, np.ndarray]:
        parsed = {}
        for name in _NUMBER_COLUMNS:
            column = self.col(name)
            # Decimal commas are the mapping's to turn into points; a frame from elsewhere may still hold them.
            text_u = column.u.str.replace(",", ".", regex=False) if column.u.str.contains(",", regex=False).any() \
                else pd.Series(column.u_values, dtype=object, copy=False)
            numbers_u = pd.to_numeric(text_u, errors="coerce").astype("float64").to_numpy()
            bad_u = ~column.blank_u & ~np.isfinite(numbers_u)
            self.add("not_a_number", name, column.rows(bad_u), f"{name} is not a number")
            numbers_u = np.where(bad_u, np.nan, numbers_u)
            parsed[name] = numbers_u[column.codes] if self.n else np.zeros(0)
        lat, lon, speed = parsed["latitude"], parsed["longitude"], parsed["speed_kw"]
        with np.errstate(invalid="ignore"):
            self.add("latitude_range", "latitude", np.abs(lat) > 90, "latitude must lie between -90 and 90")
            self.add("longitude_range", "longitude", np.abs(lon) > 180, "longitude must lie between -180 and 180")
            self.add("speed_not_positive", "speed_kw", speed <= 0, "speed must be above 0 kW")
            self.add(
                "speed_high",
                "speed_kw",
                speed > rules.SPEED_WARNING_KW,
                f"speed above {rules.SPEED_WARNING_KW:.0f} kW is unusual: is the unit kW (not W)?",
            )
        return parsed

    def country(self) -> np.ndarray:
        """Checks the country code; returns the upper-cased code per distinct value."""
        column = self.col("country")
        upper_u = column.u.str.upper()
        bad_u = ~column.blank_u & ~upper_u.isin(rules.ISO_COUNTRIES).to_numpy()
        suggestion = {}
        for value in column.u[bad_u].unique():
            try:
                suggestion[value] = pycountry.countries.lookup(value).alpha_2
            except LookupError:
                suggestion[value] = None

        def message(positions):
            out = []
            for value in column.stripped(positions):
                hint = suggestion.get(value)
                text = f"{value!r} is not an ISO 3166-1 alpha-2 country code"
                out.append(f"{text}; did you mean {hint}?" if hint else f"{text} (e.g. DE, AT, NL)")
            return np.array(out, dtype=object)

        self.add("country_code", "country", column.rows(bad_u), message)
        return upper_u.where(~bad_u, "").to_numpy(dtype=object)

    def coordinates(self, lat: np.ndarray, lon: np.ndarray, country_u: np.ndarray) -> None:
        country = self.col("country")
        boxes_per = max(len(b) for b in rules.COUNTRY_BOXES.values())
        bounds_u = np.full((len(country_u), boxes_per, 4), np.nan)
        for i, code in enumerate(country_u):
            for k, box in enumerate(rules.COUNTRY_BOXES.get(code, ())):
                bounds_u[i, k] = box
        bounds = bounds_u[country.codes]  # rows x boxes x 4
        known = ~np.isnan(bounds[:, 0, 0]) if self.n else np.zeros(0, dtype=bool)
        usable = known & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)

        def inside(y, x):
            y, x = y[:, None], x[:, None]
            with np.errstate(invalid="ignore"):
                hit = (y >= bounds[:, :, 0]) & (y <= bounds[:, :, 1]) & (x >= bounds[:, :, 2]) & (x <= bounds[:, :, 3])
            return hit.any(axis=1)

        if not usable.any():
            return
        as_given, swapped = inside(lat, lon), inside(lon, lat)
        countries = country_u[country.codes]

        def swapped_message(positions):
            return np.array(
                [f"latitude and longitude seem exchanged: ({lon[p]}, {lat[p]}) lies in {countries[p]}, "
                 f"({lat[p]}, {lon[p]}) does not" for p in positions],
                dtype=object,
            )

        def outside_message(positions):
            return np.array(
                [f"the point ({lat[p]}, {lon[p]}) lies outside {countries[p]}, the address's country"
                 for p in positions],
                dtype=object,
            )

        self.add("coordinates_swapped", "latitude", usable & ~as_given & swapped, swapped_message)
        self.add("outside_country", "latitude", usable & ~as_given & ~swapped, outside_message)

    def evse_ids(self) -> None:
        """Syntax of EVSE ids; keeps per row whether it is valid and its normalised key's code."""
        column = self.col("evse_id")
        iso_u, key_u, valid_u = column.id_form(ids.EVSE_ID_PATTERN)
        bad_u = ~column.blank_u & ~valid_u
        din_u = np.zeros(len(bad_u), dtype=bool)
        din_message = {}
        for i in np.flatnonzero(bad_u & ~iso_u):
            value = column.u.iat[i]
            if ids.is_din_evse_id(value):
                din_u[i] = True
                try:
                    din_message[value] = (
                        f"EVSE id {value!r} is in the old DIN form; its ISO form is {ids.din_to_iso(value)!r}. "
                        "Change it in the file: ids are never converted silently"
                    )
                except ids.IdError as error:
                    din_message[value] = f"EVSE id {value!r} is in the old DIN form and has no ISO form: {error}"
        self.add(
            "evse_id_din",
            "evse_id",
            column.rows(din_u),
            lambda positions: np.array([din_message[v] for v in column.stripped(positions)], dtype=object),
        )

        def syntax_message(positions):
            out = []
            for value in column.stripped(positions):
                if ids.is_evse_id(value):
                    out.append(f"EVSE id {value!r}: {value[:2].upper()!r} is not an ISO 3166-1 alpha-2 country")
                else:
                    out.append(f"EVSE id {value!r} is not of the form CC*XXX*E..., e.g. DE*8PS*E123456")
            return np.array(out, dtype=object)

        self.add("evse_id_syntax", "evse_id", column.rows(bad_u & ~din_u), syntax_message)
        key_u = key_u.where(valid_u, "")
        key_codes_u, key_uniques = pd.factorize(key_u)
        self.evse_valid = column.rows(valid_u)
        self.evse_key_codes = key_codes_u[column.codes] if self.n else np.zeros(0, dtype=np.int64)
        self.evse_key_uniques = pd.Series(key_uniques, dtype="str")
        self.evse_operator_u = key_u.str[:5]  # without '*', the first five characters are the operator id

    def operator_ids(self) -> None:
        """Syntax of cpo-id, and whether it is registered to this CPO."""
        column = self.col("cpo_id")
        _, key_u, valid_u = column.id_form(ids.OPERATOR_ID_PATTERN)
        bad_u = ~column.blank_u & ~valid_u
        self.add(
            "operator_id_syntax",
            "cpo_id",
            column.rows(bad_u),
            lambda positions: np.array(
                [f"operator id {v!r} is not of the form CC*XXX with an ISO country, e.g. DE*8PS"
                 for v in column.stripped(positions)],
                dtype=object,
            ),
        )
        self.operator_key_u = key_u.where(valid_u, "")
        self.operator_valid = column.rows(valid_u)
        canonical_u = (key_u.str[:2] + "*" + key_u.str[2:5]).where(valid_u, "").to_numpy(dtype=object)
        if self.context is not None:
            registered = self.context.operator_ids
            unregistered_u = np.array([bool(c) and c not in registered for c in canonical_u], dtype=bool)
            self.add(
                "operator_not_registered",
                "cpo_id",
                column.rows(unregistered_u),
                lambda positions: np.array(
                    [f"operator id {canonical_u[column.codes[p]]} is not registered to this CPO" for p in positions],
                    dtype=object,
                ),
            )

    def evse_operator(self) -> None:
        # Compare through codes into the distinct operator keys, in Arrow: no Python string per EVSE id.
        operator_keys, evse_operator = pa.array(self.operator_key_u), pa.array(self.evse_operator_u)
        keys = pc.unique(operator_keys)
        evse_code_u = pc.index_in(evse_operator, value_set=keys).fill_null(-1).to_numpy()
        operator_code_u = pc.index_in(operator_keys, value_set=keys).fill_null(-1).to_numpy()
        evse, operator = self.col("evse_id"), self.col("cpo_id")
        mismatch = self.evse_valid & self.operator_valid
        mismatch &= evse_code_u[evse.codes] != operator_code_u[operator.codes]

        def message(positions):
            out = []
            for p in positions:
                part = self.evse_operator_u.iat[evse.codes[p]]
                out.append(f"the EVSE id's operator part {part[:2]}*{part[2:]} differs from the station's "
                           f"cpo-id {operator.u_values[operator.codes[p]]}")
            return np.array(out, dtype=object)

        self.add("evse_operator_mismatch", "evse_id", mismatch, message)

    def station_columns(self, parsed: dict[str, np.ndarray]) -> None:
        first = self.first_pos[self.scode] if self.n else np.zeros(0, dtype=np.int64)
        has_station = ~self.station_blank
        station_values = self.col("station_id").norm_values
        disagreeing = {}
        for name in STATION_NAMES:
            if name == "station_id":
                continue
            column = self.col(name)
            same = column.norm == column.norm[first]
            if name in parsed:  # numbers compare as numbers: 45.47311 and 45.473110 are one latitude
                same |= parsed[name] == parsed[name][first]
            if (disagree := has_station & ~same).any():
                disagreeing[name] = disagree
        if not disagreeing:
            return
        # Another name at another position is another station under the same id: one error for the row, not
        # one per column that differs (a copied row whose id was not changed). A name written two ways at one
        # position (an encoding mixed up) is one station whose columns disagree.
        none = np.zeros(self.n, dtype=bool)
        reused = disagreeing.get("station_name", none) & (disagreeing.get("latitude", none)
                                                          | disagreeing.get("longitude", none))

        def naming_the_first_row(name: str, say):  # noqa: ANN001, ANN202
            """A message per row from say(station id, the column's value in the station's first row, that row)."""
            column = self.col(name)

            def message(positions):
                first_positions = first[positions]
                there = column.stripped(first_positions)
                return np.array([say(station_values[self.scode[p]], there[i], self.rows[f])
                                 for i, (p, f) in enumerate(zip(positions, first_positions, strict=True))],
                                dtype=object)

            return message

        self.add("station_id_reused", "station_id", reused, naming_the_first_row(
            "station_name", lambda station, there, row: f"station id {station!r} is already used in row {row} for "
                                                        f"another station ({there!r} at another position): give this "
                                                        "row's station its own id"), per_station=False)
        for name, disagree in disagreeing.items():
            self.add("station_columns_disagree", name, disagree & ~reused, naming_the_first_row(
                name, lambda station, there, row, name=name: f"station {station!r} has {name} {there!r} in row "
                                                             f"{row}: station columns disagree between its rows"),
                per_station=False)

    def evse_uniqueness(self) -> None:
        valid, key_codes = self.evse_valid, self.evse_key_codes
        if not valid.any():
            return
        n_stations = int(self.scode.max()) + 1
        pair = key_codes.astype(np.int64) * n_stations + self.scode
        pair_codes, pair_uniques = pd.factorize(pd.Series(pair[valid]))
        stations_per_key = np.bincount(pair_uniques.to_numpy() // n_stations, minlength=key_codes.max() + 1)
        several = valid & (stations_per_key[key_codes] > 1)
        station_values = self.col("station_id").norm_values
        if several.any():
            evse_key = self.evse_key_uniques.to_numpy(dtype=object)[key_codes]
            owners = (
                pd.DataFrame({"key": evse_key[several], "station": station_values[self.scode[several]]})
                .drop_duplicates()
                .groupby("key")["station"]
                .agg(lambda s: ", ".join(repr(v) for v in s))
            )

            def several_message(positions):
                return np.array(
                    [f"EVSE id is used by several stations ({owners[evse_key[p]]}); one EVSE belongs to one station"
                     for p in positions],
                    dtype=object,
                )

            self.add("evse_id_in_several_stations", "evse_id", several, several_message)

        connector = self.col("connector_type")
        triple = pair * (int(connector.norm.max()) + 1) + connector.norm
        triple = np.where(valid, triple, -1 - np.arange(self.n))
        triple_codes, _ = pd.factorize(triple)
        duplicate = pd.Series(triple_codes).duplicated().to_numpy() & valid & ~connector.blank_u[connector.codes]
        if duplicate.any():
            first_of = pd.Series(triple_codes).drop_duplicates().index.to_numpy()
            evse = self.col("evse_id")

            def duplicate_message(positions):
                types = connector.stripped(positions)
                evse_values = evse.stripped(positions)
                return np.array(
                    [f"EVSE id {evse_values[i]!r} with connector type {types[i]!r} is already listed in row "
                     f"{self.rows[first_of[triple_codes[p]]]}" for i, p in enumerate(positions)],
                    dtype=object,
                )

            self.add("connector_duplicate", "evse_id", duplicate, duplicate_message)

        if self.context is not None:
            foreign_u = self.evse_key_uniques.isin(self.context.foreign_evse_keys).to_numpy(dtype=bool)
            foreign = valid & foreign_u[key_codes]
            self.add("evse_id_foreign", "evse_id", foreign, "this EVSE id is already stored for another CPO")

    def foreign_station_ids(self) -> None:
        station = self.col("station_id")
        foreign_station_u = station.u.isin(self.context.foreign_station_ids).to_numpy(dtype=bool)
        self.add(
            "station_id_foreign",
            "station_id",
            station.rows(foreign_station_u & ~station.blank_u),
            "this station id is already stored for another CPO; station ids are globally unique",
        )

    def connector_types(self) -> None:
        column = self.col("connector_type")
        bad_u = ~column.blank_u & ~column.u.isin(CONNECTOR_NAMES).to_numpy(dtype=bool)

        def message(positions):
            out = []
            for value in column.stripped(positions):
                hint = _CONNECTOR_BY_LOWER.get(value.lower().replace(" ", ""))
                text = f"connector type {value!r} is not one of OIOI's 19 names"
                out.append(f"{text}; did you mean {hint!r}?" if hint else f"{text} (e.g. Type2, Combo, Chademo)")
            return np.array(out, dtype=object)

        self.add("connector_type", "connector_type", column.rows(bad_u), message)

    def texts(self) -> None:
        for name in BOOLEAN_NAMES:
            column = self.col(name)
            bad_u = ~column.blank_u & ~column.u.str.lower().isin(rules.BOOLEAN_WORDS).to_numpy(dtype=bool)
            self.add("not_a_boolean", name, column.rows(bad_u), f"{name} must be yes or no (true/false)")
        for name in _INTEGER_COLUMNS:
            whole_u = self.check_form("not_an_integer", name, _INTEGER_PATTERN, f"{name} must be a whole number")
            if name == "total_parking":
                column = self.col(name)
                negative_u = whole_u & column.u.str.startswith("-").to_numpy(dtype=bool)
                negative_u &= pd.to_numeric(column.u.where(whole_u, "0")).to_numpy() < 0
                self.add("negative_parking", name, column.rows(negative_u), "total parking cannot be below zero")

        self.check_form("open_hours_syntax", "open_hours", rules.OPEN_HOURS_PATTERN,
                        "opening hours must look like 'Mo-Fr 07:30-19:00; Sa 09:00-15:00' (days Mo Tu We Th Fr Sa Su)")
        # OIOI: open-hour notes describe a station that is not open around the clock.
        column, open_24 = self.col("open_hours"), self.col("is_open_24")
        both = column.rows(~column.blank_u) & open_24.rows(open_24.u.str.lower().isin(rules.TRUE_WORDS).to_numpy())
        self.add("open_24_with_hours", "open_hours", both,
                 "a station open 24 hours has no opening hours: empty this cell or set is_open_24 to no")

        self.check_form("url_syntax", "web", rules.URL_PATTERN, "the website is not a web address such as https://example.com")

        for name, limit in rules.TEXT_LIMITS.items():
            column = self.col(name)
            long_u = (column.u.str.len() > limit).to_numpy(dtype=bool)
            self.add(
                "text_too_long",
                name,
                column.rows(long_u),
                lambda positions, column=column, name=name, limit=limit: np.array(
                    [f"{name} has {len(v)} characters; at most {limit} are allowed" + _WHY_LIMIT.get(name, "")
                     for v in column.stripped(positions)],
                    dtype=object,
                ),
            )

    def email(self) -> None:
        column = self.col("email")
        problem = {}
        for i in np.flatnonzero(~column.blank_u):
            value = column.u.iat[i]
            try:
                email_validator.validate_email(value, check_deliverability=False)
            except email_validator.EmailNotValidError as error:
                problem[i] = f"e-mail {value!r} is not valid: {error}"
        bad_u = np.zeros(len(column.u), dtype=bool)
        bad_u[list(problem)] = True
        self.add(
            "email_syntax",
            "email",
            column.rows(bad_u),
            lambda positions: np.array([problem[column.codes[p]] for p in positions], dtype=object),
        )

    def phones(self, country_u: np.ndarray) -> None:
        country = self.col("country")
        country_rows = country.codes
        for name in ("phone", "fax"):
            column = self.col(name)
            filled = ~column.blank_u[column.codes] if self.n else np.zeros(0, dtype=bool)
            if not filled.any():
                continue
            # A number's validity depends on the country it is read in: check distinct pairs.
            pair = column.codes.astype(np.int64) * (len(country_u) + 1) + country_rows
            pair_codes, pair_uniques = pd.factorize(np.where(filled, pair, -1))
            found = {"phone_syntax": np.zeros(len(pair_uniques), dtype=bool),
                     "phone_unassigned": np.zeros(len(pair_uniques), dtype=bool)}
            reason = {}
            for k, key in enumerate(pair_uniques):
                if key < 0:
                    continue
                value = column.u.iat[key // (len(country_u) + 1)]
                rule, why = _phone_problem(value, country_u[key % (len(country_u) + 1)] or None)
                if rule:
                    found[rule][k] = True
                    reason[k] = f"{name} {value!r} " + why
            for rule, bad_pair in found.items():
                self.add(rule, name, bad_pair[pair_codes], lambda positions, pair_codes=pair_codes, reason=reason:
                         np.array([reason[pair_codes[p]] for p in positions], dtype=object))

    def plausibility(self, country_u: np.ndarray) -> None:
        """Values of the right shape that are most likely wrong: what a wrong mapping leaves behind."""
        city = self.col("city")
        digits_u = city.u.str.contains(r"[0-9]", regex=True).fillna(False).to_numpy(dtype=bool)
        words_u = city.u.map(_street_words).to_numpy(dtype=bool)
        self.add("city_is_address", "city", city.rows(digits_u & words_u),
                 lambda positions: np.array([f"the city {v!r} holds a number and a street: it looks like the whole "
                                             "address; map street, postcode and city to their own columns"
                                             for v in city.stripped(positions)], dtype=object))
        self.add("city_implausible", "city", city.rows(digits_u ^ words_u),
                 lambda positions: np.array([f"the city {v!r} holds " + ("digits" if any(c.isdigit() for c in v)
                                                                          else "a street word") + ": check it"
                                             for v in city.stripped(positions)], dtype=object))

        # The postcode against its country's format, once per distinct (postcode, country).
        zip_column, country = self.col("zip"), self.col("country")
        pair = zip_column.codes.astype(np.int64) * (len(country_u) + 1) + country.codes
        pair_codes, pair_uniques = pd.factorize(pair)
        bad_pair = np.zeros(len(pair_uniques), dtype=bool)
        for k, key in enumerate(pair_uniques):
            value = zip_column.u_values[key // (len(country_u) + 1)]
            code = country_u[key % (len(country_u) + 1)]
            bad_pair[k] = bool(value) and bool(code) and zip_fits(value, code) is False
        countries = country_u[country.codes] if self.n else np.zeros(0, dtype=object)
        self.add("zip_format", "zip", bad_pair[pair_codes] if self.n else np.zeros(0, dtype=bool),
                 lambda positions: np.array([f"postcode {v!r} does not have the format of {countries[p]}'s postcodes"
                                             for v, p in zip(zip_column.stripped(positions), positions, strict=True)],
                                            dtype=object))

        street, number = self.col("street"), self.col("street_number")
        number_u = street.u.str.extract(r"(?:^|\s)([0-9]+ ?[A-Za-z]?)$|^([0-9]+ ?[A-Za-z]?)\s", expand=True)
        found_u = number_u[0].fillna(number_u[1]).fillna("")
        lost = street.rows((found_u != "").to_numpy(dtype=bool)) & number.blank_u[number.codes]
        found_values = found_u.to_numpy(dtype=object)
        self.add("street_number_in_street", "street", lost,
                 lambda positions: np.array([f"street_number is empty, but the street {v!r} holds the number "
                                             f"{found_values[street.codes[p]]!r}: move it to street_number"
                                             for v, p in zip(street.stripped(positions), positions, strict=True)],
                                            dtype=object))

    def hostile(self) -> None:
        # One pass over every column's distinct values for both patterns first: nearly every column has neither.
        filled = [name for name in NAMES if not self.col(name).blank_u.all()]
        if not filled:
            return
        values = [pa.array(self.col(name).raw_u, type=pa.large_string()) for name in filled]
        found = pc.match_substring_regex(pa.concat_arrays(values), _HOSTILE_PATTERN).fill_null(False).to_numpy(
            zero_copy_only=False)
        for name, hits in zip(filled, np.split(found, np.cumsum([len(v) for v in values])[:-1]), strict=True):
            if not hits.any():
                continue
            column = self.col(name)
            for rule, pattern, message in _HOSTILE_RULES:
                found_u = column.raw_u.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)
                self.add(rule, name, column.rows(found_u), message)


_WHY_LIMIT = {"station_id": f" (a connector change pushes the station again as its id with '-2' appended, and "
                            f"ids stay within {rules.TEXT_LIMITS['station_id'] + rules.REPLACEMENT_SUFFIX_ROOM})"}
_HOSTILE_RULES = [  # rule, pattern searched in the cell as found, message
    ("control_characters", rules.CONTROL_CHARACTERS_PATTERN,
     "the cell holds invisible control characters; remove them"),
    ("formula_like", rules.FORMULA_PATTERN, "the cell looks like a spreadsheet formula; it is sent as plain text"),
]
_HOSTILE_PATTERN = "|".join(pattern for _, pattern, _ in _HOSTILE_RULES)


def _street_words(text: str) -> bool:
    """'Rue de la République', 'Hauptstraße': the text names a street."""
    words = aliases._words(text)
    return any(w in CITY_STREET_WORDS for w in words) or any(w.endswith("strasse") for w in words)


def _phone_problem(value: str, region: str | None) -> tuple[str, str]:
    """(rule, why) for a phone number read in ``region``; ("", "") when it is a valid one.

    Only a number that cannot be one (nor dialled from abroad) is an error. A possible number outside the
    ranges the numbering metadata lists as assigned is a warning: the platform takes any phone, and the
    metadata lags behind real assignments.
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as error:
        if region is None and not value.startswith("+"):
            return "phone_syntax", "is not a valid phone number (start it with + and the country code, or give " \
                                   "the address's country)"
        return "phone_syntax", "is not a valid phone number" + (f" ({error._msg})" if getattr(error, "_msg", "")
                                                                else "")
    if phonenumbers.is_valid_number(number):
        return "", ""
    if phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE:
        where = phonenumbers.region_code_for_number(number) or region
        return "phone_unassigned", f"is not an assigned range in {where}: check it" if where and where != "ZZ" \
            else "is not in an assigned range: check it"
    return "phone_syntax", "is not a valid phone number" + (f" for {region}" if region else "")


def validate(
    frame: pd.DataFrame,
    *,
    context: RegistryContext | None = None,
    extra_issues: pd.DataFrame | None = None,
) -> Validation:
    """Check every rule over the whole canonical frame; errors block only their station."""
    frame = canonical_frame(frame)
    checker = _Checker(frame, context)
    if checker.n:
        checker.required()
        parsed = checker.numbers()
        country_u = checker.country()
        checker.coordinates(parsed["latitude"], parsed["longitude"], country_u)
        checker.evse_ids()
        checker.operator_ids()
        checker.evse_operator()
        checker.station_columns(parsed)
        checker.evse_uniqueness()
        if context is not None:
            checker.foreign_station_ids()
        checker.connector_types()
        checker.texts()
        checker.email()
        checker.phones(country_u)
        checker.plausibility(country_u)
        checker.hostile()
    issues, issue_stations = checker.issues()

    station_ids = checker.col("station_id").norm_values
    stations = pd.Index([s for s in station_ids if s != ""], dtype="object", name="station_id")
    if extra_issues is not None and len(extra_issues):
        extra = extra_issues.reindex(columns=ISSUE_COLUMNS)
        by_row = pd.Series(station_ids[checker.scode], index=checker.rows)
        by_row = by_row[~by_row.index.duplicated()]
        extra_stations = by_row.reindex(extra["row"].to_numpy()).fillna("").to_numpy(dtype=object)
        # What the mapping already reported is not reported again as its consequence: a postcode a
        # profile's own check found, and the empty operator id and EVSE ids of an operator the
        # operator table lacks (one cause, one issue, instead of three per charge point).
        reported = set(zip(extra["row"], extra["column"], strict=True))
        unknown = set(extra.loc[extra["rule"] == "operator_unknown", "row"])
        again = ((issues["rule"] == "zip_format")
                 & pd.Series(list(zip(issues["row"], issues["column"], strict=True))).isin(reported)).to_numpy()
        again = again | ((issues["rule"] == "required") & issues["column"].isin(["cpo_id", "evse_id"])
                  & issues["row"].isin(unknown)).to_numpy()
        issues, issue_stations = issues[~again], issue_stations[~again]
        issues = pd.concat([issues, extra], ignore_index=True)
        issue_stations = np.concatenate([issue_stations, extra_stations])

    state = pd.Series("ok", index=stations, dtype="object")
    for severity, name in ((Severity.WARNING, "warning"), (Severity.ERROR, "error")):
        hit = pd.unique(issue_stations[(issues["severity"] == severity.value).to_numpy()])
        hit = [s for s in hit if s != ""]
        state[state.index.isin(hit)] = name

    if len(issues):
        issues = issues.assign(_order=np.arange(len(issues)))
        issues = issues.sort_values(["row", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
        issues["row"] = issues["row"].astype("int64")
    skipped = [] if context is not None else list(rules.REGISTRY_RULES)
    return Validation(frame=frame, issues=issues[ISSUE_COLUMNS], station_state=state, skipped=skipped)

