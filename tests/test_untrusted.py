"""The one reader of timestamps and JSON from outside (``untrusted``), and the OCPI DateTime that uses it.

Property tests are derandomized, so every run tries the same cases; a failure names its example.
"""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from oioi_onboard import untrusted
from oioi_onboard.ocpi.models import EvsePatch, Location
from tests.helpers.ocpi import example as ocpi_example

PROPERTIES = settings(derandomize=True, database=None, max_examples=300, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])
OVERFLOWING = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:59:59.999999+01:00"]
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
# Text that looks like an RFC 3339 time, with every part allowed to go out of range.
looks_like_a_time = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.sampled_from(["T", "t", " ", "_"]),
    st.integers(0, 25), st.integers(0, 60), st.integers(0, 61),
    st.sampled_from(["", ".5", ".123456", ".1234567891", ","]),
    st.sampled_from(["", "Z", "z", "+00:00", "+01:00", "-14:00", "+14:00", "+23:59", "-23:59", "+24:00", "+0100",
                     "+01", "-00:00", "Z+01:00"]))


@PROPERTIES
@given(st.datetimes(timezones=st.none() | offsets))
@example(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
@example(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))))
def test_any_iso_time_is_its_utc_moment_or_a_value_error_naming_it(moment):
    text = moment.isoformat()
    try:
        parsed = untrusted.parse_utc(text)
    except ValueError as error:
        assert text in str(error) and "outside the years 1 to 9999" in str(error)
        return
    assert parsed.tzinfo is UTC
    assert parsed == (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@PROPERTIES
@given(looks_like_a_time | st.text(max_size=40) | st.from_regex(r"[0-9T:+\-Zz. ]{0,30}", fullmatch=True))
@example("9" * 400)
@example("2024-05-01T12:00:00\x00Z")
@example("\ud800")
def test_any_text_is_a_utc_time_or_a_short_value_error(text):
    try:
        parsed = untrusted.parse_utc(text, what="DateTime")
    except ValueError as error:
        assert str(error).startswith("DateTime ") and len(str(error)) < 300
        return
    assert parsed.tzinfo is UTC and datetime(1, 1, 1, tzinfo=UTC) <= parsed


@pytest.mark.parametrize("text", OVERFLOWING)
def test_an_ocpi_datetime_that_overflows_utc_is_a_validation_error(text):
    location = dict(ocpi_example("location_example.json"), last_updated=text)
    with pytest.raises(ValidationError, match="outside the years 1 to 9999 in UTC"):
        Location.model_validate(location)
    with pytest.raises(ValidationError, match="last_updated"):
        EvsePatch.model_validate({"status": "CHARGING", "last_updated": text})


@PROPERTIES
@given(looks_like_a_time)
def test_an_ocpi_datetime_is_read_as_the_relay_reads_a_timestamp(text):
    """One parser: the receiver's DateTime and the relay's timestamps agree on every text."""
    try:
        expected = untrusted.parse_utc(text)
    except ValueError:
        with pytest.raises(ValidationError):
            EvsePatch.model_validate({"status": "CHARGING", "last_updated": text})
        return
    assert EvsePatch.model_validate({"status": "CHARGING", "last_updated": text}).last_updated == expected


@pytest.mark.parametrize("value", [5, 1.5, None, True, ["2024-05-01T12:00:00Z"], {"at": 1}])
def test_an_ocpi_datetime_is_text(value):
    with pytest.raises(ValidationError, match="not an ISO 8601 string"):
        EvsePatch.model_validate({"status": "CHARGING", "last_updated": value})


def test_json_deeper_than_the_limit_is_too_deep_never_a_recursion_error():
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        with pytest.raises(untrusted.TooDeep, match="deeper than 32 levels"):
            untrusted.loads(text)
    with pytest.raises(ValueError, match="brackets do not match"):
        untrusted.loads("[" * 100_000)
    assert untrusted.loads(b"[" * 32 + b"]" * 32) == json.loads("[" * 32 + "]" * 32)
    assert untrusted.loads('["[[[[", {"a": "\\"[{"}]', max_depth=2) == ["[[[[", {"a": '"[{'}]
    with pytest.raises(ValueError):
        untrusted.loads(b"\xff[]")
