import stat

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from oioi_onboard.settings import get_settings
from oioi_onboard.store import queries
from oioi_onboard.store.auth import SYSTEM
from oioi_onboard.store.models import AuditLog, Cpo
from oioi_onboard.store.registry import set_api_key
from oioi_onboard.store.secrets import SecretKeyError, decrypt_api_key, encrypt_api_key, key_file, last4, secret_key
from tests.conftest import API_KEY_A, API_KEY_B


def test_round_trip_and_last4():
    token = encrypt_api_key("my-secret-api-key-1234")
    assert "my-secret-api-key" not in token
    assert decrypt_api_key(token) == "my-secret-api-key-1234"
    assert last4("my-secret-api-key-1234") == "1234"


def test_key_file_is_created_once_with_mode_0600():
    encrypt_api_key("whatever-key-0000")
    path = key_file()
    assert path.parent == get_settings().data_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    encrypt_api_key("another-key-0000")
    assert path.read_bytes() == first


def test_key_from_environment_wins_and_no_file_is_written(monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("OIOI_SECRET_KEY", key)
    get_settings.cache_clear()
    token = encrypt_api_key("env-key-test-5678")
    assert Fernet(key.encode()).decrypt(token.encode()) == b"env-key-test-5678"
    assert not key_file().exists()


def test_key_from_streamlit_secrets_toml(monkeypatch, tmp_path):
    key = Fernet.generate_key().decode()
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f'[oioi]\nsecret_key = "{key}"\n')
    monkeypatch.chdir(tmp_path)
    assert secret_key() == (key.encode(), ".streamlit/secrets.toml [oioi] secret_key")
    assert Fernet(key.encode()).decrypt(encrypt_api_key("toml-key-9999").encode()) == b"toml-key-9999"


def test_wrong_or_malformed_secret_key_is_a_clear_error_without_secrets(monkeypatch):
    token = encrypt_api_key("precious-api-key-4321")
    other = Fernet.generate_key().decode()
    monkeypatch.setenv("OIOI_SECRET_KEY", other)
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError) as raised:
        decrypt_api_key(token)
    assert "precious" not in str(raised.value) and other not in str(raised.value)
    assert "OIOI_SECRET_KEY" in str(raised.value)
    monkeypatch.setenv("OIOI_SECRET_KEY", "not-a-fernet-key")
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError, match="not a Fernet key") as raised:
        encrypt_api_key("x" * 12)
    assert "not-a-fernet-key" not in str(raised.value)


def _database_bytes() -> bytes:
    data = get_settings().data_dir
    return b"".join(path.read_bytes() for path in sorted(data.glob("onboard.db*")))


def test_raw_database_bytes_never_hold_the_api_key(two_cpos, db):
    with db() as session:
        set_api_key(session, actor=SYSTEM, cpo_id=two_cpos["alpha"], api_key="replacement-key-abcdef99")
    raw = _database_bytes()
    assert len(raw) > 10_000  # the database (and its WAL) really was read
    for key in (API_KEY_A, API_KEY_B, "replacement-key-abcdef99"):
        assert key.encode() not in raw
        assert key.encode("utf-16-le") not in raw
    # ...while the keys are there, encrypted, for the workers to use.
    with db() as session:
        _, key, _ = queries.cpo_credentials(session, actor=SYSTEM, cpo_id=two_cpos["bravo"])
        assert key == API_KEY_B
        assert session.get(Cpo, two_cpos["alpha"]).api_key_last4 == "ef99"


def test_audit_log_holds_no_secret(two_cpos, db):
    with db() as session:
        set_api_key(session, actor=SYSTEM, cpo_id=two_cpos["alpha"], api_key="replacement-key-abcdef99")
        entries = session.exec(select(AuditLog)).all()
    text = " ".join(f"{entry.action} {entry.detail}" for entry in entries)
    assert "cpo registered" in text and "api key replaced" in text
    for key in (API_KEY_A, API_KEY_B, "replacement-key-abcdef99"):
        assert key not in text
