"""`auth = "oauth2"` in [imap]: the keys, their secrets, and one clear line for each fault."""

import subprocess
import sys
from pathlib import Path

import pytest

from mailtickets.config import check_secrets, load_settings, reveal
from mailtickets.errors import ConfigError

REST = """\
[smtp]
host = "smtp.example.com"
from_address = "soporte@example.com"

[[departments]]
name = "Hosting"

[[staff]]
email = "ana@example.com"
name = "Ana"
"""

IMAP = """\
[imap]
host = "imap.example.com"
username = "soporte@example.com"
"""

GENERIC = """\
auth = "oauth2"
oauth2_provider = "generic"
token_url = "https://login.example.com/token"
client_id = "mailtickets"
client_secret_env = "MT_TEST_CLIENT_SECRET"
refresh_token_file = "refresh.token"
scope = "imap"
"""


def write(tmp_path: Path, imap_keys: str, rest: str = REST) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(IMAP + imap_keys + "\n" + rest)
    return path


@pytest.fixture(autouse=True)
def client_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_TEST_CLIENT_SECRET", "cl13nt-s3cret")


def test_generic_provider_is_read_with_its_secret_and_relative_token_file(tmp_path: Path) -> None:
    (tmp_path / "refresh.token").write_text("r1\n")
    settings = load_settings(write(tmp_path, GENERIC))
    oauth2 = settings.imap.oauth2
    assert settings.imap.auth == "oauth2" and oauth2 is not None
    assert oauth2.provider == "generic" and oauth2.client_id == "mailtickets"
    assert oauth2.token_url == "https://login.example.com/token" and oauth2.scope == "imap"
    assert oauth2.refresh_token_file == (tmp_path / "refresh.token").resolve()
    assert reveal(oauth2.client_secret) == "cl13nt-s3cret"
    assert "cl13nt-s3cret" not in repr(settings)
    check_secrets(settings)


def test_password_stays_the_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, 'password = "pw"'))
    assert settings.imap.auth == "password" and settings.imap.oauth2 is None
    assert settings.smtp.auth == "password"


def test_client_secret_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "client.secret").write_text("from-file\n")
    keys = GENERIC.replace(
        'client_secret_env = "MT_TEST_CLIENT_SECRET"', 'client_secret_file = "client.secret"'
    )
    settings = load_settings(write(tmp_path, keys))
    assert settings.imap.oauth2 is not None
    assert reveal(settings.imap.oauth2.client_secret) == "from-file"


def test_client_secret_is_optional_for_a_public_client(tmp_path: Path) -> None:
    keys = GENERIC.replace('client_secret_env = "MT_TEST_CLIENT_SECRET"\n', "")
    settings = load_settings(write(tmp_path, keys))
    assert settings.imap.oauth2 is not None and settings.imap.oauth2.client_secret.kind == ""


@pytest.mark.parametrize(
    ("keys", "key", "problem"),
    [
        (GENERIC.replace('oauth2_provider = "generic"\n', ""), "oauth2_provider", "missing"),
        (GENERIC.replace('"generic"', '"okta"'), "oauth2_provider", "not one of"),
        (
            GENERIC.replace('token_url = "https://login.example.com/token"\n', ""),
            "token_url",
            "missing",
        ),
        (GENERIC.replace("https://login", "ftp://login"), "token_url", "not an http(s) URL"),
        (GENERIC.replace('client_id = "mailtickets"\n', ""), "client_id", "missing"),
        (
            GENERIC.replace('refresh_token_file = "refresh.token"\n', ""),
            "refresh_token_file",
            "missing",
        ),
        (GENERIC + 'client_secret = "x"\n', "client_secret_env", "give only one of"),
        (GENERIC + 'password = "pw"\n', "password", 'not used with auth = "oauth2"'),
        (GENERIC + 'tenant_id = "t"\n', "tenant_id", 'only with oauth2_provider = "microsoft"'),
        (
            'password = "pw"\ntoken_url = "https://x/token"',
            "token_url",
            'only with auth = "oauth2"',
        ),
        (GENERIC.replace('auth = "oauth2"', 'auth = "kerberos"'), "auth", "not one of"),
        (GENERIC.replace('"generic"', '"google"'), "oauth2_provider", "not available"),
        ('auth = "oauth2"\noauth2_provider = "generic"', "token_url", "missing"),
    ],
)
def test_a_missing_or_contradicting_key_is_named(
    tmp_path: Path, keys: str, key: str, problem: str
) -> None:
    path = write(tmp_path, keys)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    line = str(caught.value)
    assert line.startswith(f"{path}: [imap] {key}: ") and problem in line, line
    assert "\n" not in line and "cl13nt-s3cret" not in line


MICROSOFT = """\
auth = "oauth2"
oauth2_provider = "microsoft"
tenant_id = "8d3c1f0e-5b7a-4e2d-9c61-0f2a7b9e4d13"
client_id = "b2f7c9d1-0a4e-4f6b-8e3d-5c1a2b7f9e60"
client_secret_env = "MT_TEST_CLIENT_SECRET"
"""


def test_microsoft_derives_its_token_url_and_scope_from_the_tenant(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MICROSOFT))
    oauth2 = settings.imap.oauth2
    assert oauth2 is not None and oauth2.provider == "microsoft"
    assert oauth2.token_url == (
        "https://login.microsoftonline.com/8d3c1f0e-5b7a-4e2d-9c61-0f2a7b9e4d13/oauth2/v2.0/token"
    )
    assert oauth2.scope == "https://outlook.office365.com/.default"
    assert oauth2.refresh_token_file is None and reveal(oauth2.client_secret) == "cl13nt-s3cret"
    check_secrets(settings)  # no refresh token file to look for
    national = MICROSOFT + 'token_url = "https://login.microsoftonline.us/t/oauth2/v2.0/token"\n'
    settings = load_settings(write(tmp_path, national))
    assert settings.imap.oauth2 is not None
    assert settings.imap.oauth2.token_url.startswith("https://login.microsoftonline.us/")


@pytest.mark.parametrize(
    ("keys", "key", "problem"),
    [
        (
            "".join(k for k in MICROSOFT.splitlines(True) if "tenant_id" not in k),
            "tenant_id",
            "missing",
        ),
        (MICROSOFT.replace('"8d3c1f0e', '"a/b 8d3c1f0e'), "tenant_id", "directory (tenant) ID"),
        (
            MICROSOFT.replace('client_secret_env = "MT_TEST_CLIENT_SECRET"\n', ""),
            "client_secret",
            "missing",
        ),
        (MICROSOFT + 'refresh_token_file = "r"\n', "refresh_token_file", "not used with"),
        (MICROSOFT.replace("client_id = ", "x_client_id = "), "client_id", "missing"),
    ],
)
def test_microsoft_faults_are_named(tmp_path: Path, keys: str, key: str, problem: str) -> None:
    path = write(tmp_path, keys)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    line = str(caught.value)
    assert line.startswith(f"{path}: [imap] {key}: ") and problem in line, line


def test_smtp_takes_the_same_oauth2_keys(tmp_path: Path) -> None:
    (tmp_path / "refresh.token").write_text("r1\n")
    smtp = '[smtp]\nusername = "soporte@example.com"\n' + GENERIC
    settings = load_settings(write(tmp_path, 'password = "pw"', REST.replace("[smtp]\n", smtp)))
    oauth2 = settings.smtp.oauth2
    assert settings.smtp.auth == "oauth2" and oauth2 is not None
    assert oauth2.token_url == "https://login.example.com/token" and oauth2.where.endswith("[smtp]")
    assert settings.imap.auth == "password" and settings.imap.oauth2 is None
    check_secrets(settings)


@pytest.mark.parametrize(
    ("smtp", "key", "problem"),
    [
        (GENERIC, "username", 'missing: auth = "oauth2" logs in as this user'),
        ('username = "u"\n' + GENERIC + 'password = "pw"\n', "password", "not used with"),
        ('username = "u"\n' + GENERIC.replace("client_id", "x_client_id"), "client_id", "missing"),
        ('scope = "x"\n', "scope", 'only with auth = "oauth2"'),
    ],
)
def test_smtp_oauth2_faults_are_named(tmp_path: Path, smtp: str, key: str, problem: str) -> None:
    path = write(tmp_path, 'password = "pw"', REST.replace("[smtp]\n", "[smtp]\n" + smtp))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    line = str(caught.value)
    assert line.startswith(f"{path}: [smtp] {key}: ") and problem in line, line


def test_an_unreadable_refresh_token_file_is_refused_at_start(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GENERIC))  # refresh.token was never written
    with pytest.raises(ConfigError, match=r"\[imap\] refresh_token_file: cannot read and write"):
        check_secrets(settings)


def test_the_command_line_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GENERIC.replace('client_id = "mailtickets"\n', ""))
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "[imap] client_id" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr and "cl13nt-s3cret" not in proc.stderr


def test_a_readable_file_with_a_client_secret_draws_a_warning(tmp_path: Path) -> None:
    keys = GENERIC.replace('client_secret_env = "MT_TEST_CLIENT_SECRET"', 'client_secret = "c"')
    path = write(tmp_path, keys)
    path.chmod(0o644)
    [warning] = load_settings(path).warnings
    assert "[imap] client_secret" in warning and f"chmod 600 {path}" in warning
    assert "client_secret_file/client_secret_env" in warning and '"c"' not in warning
    path.chmod(0o600)
    assert load_settings(path).warnings == ()
