import pytest

from oioi_onboard.oioi import ids


def test_evse_ids():
    assert ids.is_evse_id("DE*8PS*E123456") and ids.is_evse_id("DE8PSE123456") and ids.is_evse_id("DE*123*E12345*A")
    assert not ids.is_evse_id("+49*8PS*E123456")
    evse = ids.parse_evse_id("de8psE12")
    assert str(evse) == "DE*8PS*E12" and str(evse.operator_id) == "DE*8PS"
    assert ids.evse_operator_id("DE*8PS*E1") == "DE*8PS"
    with pytest.raises(ids.IdError, match="DIN form; its ISO form is 'DE\\*8PS\\*E123456'"):
        ids.parse_evse_id("+49*8PS*E123456")


def test_din_to_iso_only_on_request():
    assert ids.is_din_evse_id("+49*8PS*E123456")
    assert ids.din_to_iso("+49*8PS*E123456") == "DE*8PS*E123456"
    assert ids.din_to_iso("+31*ALF*1234") == "NL*ALF*E1234"
    with pytest.raises(ids.IdError):
        ids.din_to_iso("DE*8PS*E1")


def test_operator_ids():
    assert str(ids.parse_operator_id("de8ps")) == "DE*8PS"
    for bad in ("DE-8PS", "XX*8PS", "DE*8P", ""):
        with pytest.raises(ids.IdError):
            ids.parse_operator_id(bad)


def test_partner_identifiers():
    one, two = ids.new_partner_identifier(), ids.new_partner_identifier()
    assert one != two and len(one) >= 16
    assert ids.check_partner_identifier(one) == one
    for bad in ("1", "aaaaaaaaaaaaaaaaaaaa", "has spaces in it 1234567", "0123456789abcde"):
        with pytest.raises(ids.IdError):
            ids.check_partner_identifier(bad)
