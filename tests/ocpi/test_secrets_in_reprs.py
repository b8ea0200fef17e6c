"""Tokens never show in a repr (a log line, a traceback's locals, a debugger): the OCPI receiver's holders and
credentials, and the relay's waiting requests."""

import asyncio

import pytest
from pydantic import ValidationError

from oioi_onboard.ocpi.credentials import CREDENTIALS, TokenHolder
from oioi_onboard.ocpi.models import Credentials
from oioi_onboard.sync.relay import _Posted

SECRET = "oioi_ocpi_c_s3cret-token-value"
ROLE = {"role": "CPO", "country_code": "BE", "party_id": "BEC", "business_details": {"name": "CSMS"}}


def test_token_holders_credentials_and_posted_requests_keep_the_token_out_of_their_repr():
    loop = asyncio.new_event_loop()
    try:
        shown = [TokenHolder(cpo_id=1, kind=CREDENTIALS, token=SECRET),
                 Credentials.model_validate({"token": SECRET, "url": "https://csms.example/ocpi/versions",
                                             "roles": [ROLE]}),
                 _Posted(SECRET, [], loop.create_future())]
        for value in shown:
            assert SECRET not in repr(value) and SECRET not in str(value), repr(value)
    finally:
        loop.close()
    assert shown[0].token == SECRET and shown[1].token == SECRET  # still there for who needs it


@pytest.mark.parametrize("url", ["https://user:pw@csms.example/ocpi/versions", "https://user@csms.example/v"])
def test_credentials_with_a_user_in_the_versions_url_are_refused(url):
    with pytest.raises(ValidationError, match="must not hold a user name or password"):
        Credentials.model_validate({"token": SECRET, "url": url, "roles": [ROLE]})
