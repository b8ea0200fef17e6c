"""Property tests of what hostile input reaches first: timestamps, EVSE ids and whole status items.

Derandomized, so every run tries the same cases; a failure names its example.
"""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oioi_onboard.oioi import ids
from oioi_onboard.sync import request_body
from oioi_onboard.sync.status_ingest import EARLIEST, MAX_CLOCK_AHEAD, ItemResult, _Item, _read_item, parse_timestamp

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROPERTIES = settings(derandomize=True, database=None, max_examples=200, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))


@PROPERTIES
@given(st.datetimes(timezones=st.none() | offsets))
@example(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
@example(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))))
def test_any_iso_time_is_read_or_refused_with_a_reason(moment):
    try:
        parsed = parse_timestamp(moment.isoformat(), now=NOW)
    except ValueError as error:
        assert moment.isoformat() in str(error)
        return
    assert parsed.tzinfo is UTC and EARLIEST <= parsed <= NOW + MAX_CLOCK_AHEAD
    assert parsed == (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@PROPERTIES
@given(json_values)
def test_any_json_value_as_a_timestamp_is_a_time_or_a_value_error(value):
    try:
        parsed = parse_timestamp(value, now=NOW)
    except ValueError as error:
        assert len(str(error)) < 300  # the value is quoted, not echoed at length
        return
    assert parsed.tzinfo is UTC and EARLIEST <= parsed <= NOW + MAX_CLOCK_AHEAD


@PROPERTIES
@given(st.from_regex(ids.EVSE_ID_PATTERN, fullmatch=True))
def test_every_evse_id_of_the_pattern_parses_to_itself(value):
    parsed = ids.parse_evse_id(value)
    assert ids.is_evse_id(str(parsed))
    assert ids.normalise_evse_id(str(parsed)) == ids.normalise_evse_id(value)


@PROPERTIES
@given(st.text(max_size=60))
def test_any_text_is_an_evse_id_or_an_id_error(value):
    try:
        parsed = ids.parse_evse_id(value)
    except ids.IdError:
        assert not ids.is_evse_id(value)
        return
    assert ids.is_evse_id(value) and str(parsed).startswith(parsed.country)


@PROPERTIES
@given(json_values | st.fixed_dictionaries({"evse_id": json_values, "status": json_values,
                                            "timestamp": json_values}))
def test_any_item_is_judged_without_raising(item):
    outcome = _read_item(0, item, NOW)
    assert isinstance(outcome, _Item | ItemResult)
    if isinstance(outcome, ItemResult):
        assert not outcome.ok and outcome.error and len(outcome.error) < 400


@PROPERTIES
@given(json_values, st.integers(min_value=1, max_value=8))
def test_the_nesting_pre_scan_agrees_with_the_parser(value, limit):
    import json

    raw = json.dumps(value).encode()

    def depth(v):
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        return 0 if children is None else 1 + max(map(depth, children), default=0)

    assert request_body.nests_deeper_than(raw, limit) is (depth(value) > limit)
