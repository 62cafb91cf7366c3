"""`auth = "oauth2"` in [imap]: the keys, their secrets, and one clear line for each fault."""

import json
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
        (GENERIC + 'service_account_file = "sa.json"\n', "service_account_file", "only with"),
        (
            GENERIC + 'subject = "ana@example.com"\n',
            "subject",
            'only with oauth2_provider = "google"',
        ),
        (GENERIC + 'oauth2_mechanism = "plain"\n', "oauth2_mechanism", "not one of"),
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
        (MICROSOFT + 'service_account_file = "sa.json"\n', "service_account_file", "only with"),
        (MICROSOFT + 'subject = "ana@example.com"\n', "subject", "only with"),
        # msal takes an https authority: https://HOST/TENANT, the token URL less its path.
        (
            MICROSOFT + 'token_url = "http://login.microsoftonline.us/t/oauth2/v2.0/token"\n',
            "token_url",
            "write https://HOST/TENANT/oauth2/v2.0/token",
        ),
        (
            MICROSOFT + 'token_url = "https://login.microsoftonline.us/token"\n',
            "token_url",
            "e.g. https://login.microsoftonline.us/8d3c1f0e",
        ),
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


GOOGLE = """\
auth = "oauth2"
oauth2_provider = "google"
client_id = "1234567890-abc.apps.googleusercontent.com"
client_secret_env = "MT_TEST_CLIENT_SECRET"
refresh_token_file = "refresh.token"
"""

SERVICE_ACCOUNT = """\
auth = "oauth2"
oauth2_provider = "google"
service_account_file = "keys/service-account.json"
"""

KEY = {
    "type": "service_account",
    "private_key_id": "0f1e",
    "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIB…\\n-----END PRIVATE KEY-----\\n",
    "client_email": "mailtickets@proyecto.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def write_key(tmp_path: Path, key: dict[str, str] | str = "") -> Path:
    path = tmp_path / "keys" / "service-account.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(key if isinstance(key, str) and key else json.dumps(key or KEY))
    return path


def test_google_refresh_token_defaults_to_googles_endpoint_and_the_gmail_scope(
    tmp_path: Path,
) -> None:
    (tmp_path / "refresh.token").write_text("1//r1\n")
    settings = load_settings(write(tmp_path, GOOGLE))
    oauth2 = settings.imap.oauth2
    assert oauth2 is not None and oauth2.provider == "google"
    assert oauth2.token_url == "https://oauth2.googleapis.com/token"
    assert oauth2.scope == "https://mail.google.com/"
    assert oauth2.refresh_token_file == (tmp_path / "refresh.token").resolve()
    assert oauth2.service_account.kind == "" and oauth2.subject == ""
    assert reveal(oauth2.client_secret) == "cl13nt-s3cret"
    check_secrets(settings)


def test_a_google_service_account_acts_as_the_login_user_by_default(tmp_path: Path) -> None:
    key = write_key(tmp_path)
    settings = load_settings(write(tmp_path, SERVICE_ACCOUNT))
    oauth2 = settings.imap.oauth2
    assert oauth2 is not None and oauth2.provider == "google"
    assert oauth2.service_account.kind == "file"
    assert oauth2.service_account.value == str(key.resolve())  # relative to the config
    assert oauth2.subject == "soporte@example.com" and oauth2.scope == "https://mail.google.com/"
    assert oauth2.refresh_token_file is None and oauth2.client_id == ""
    assert "PRIVATE KEY" not in repr(settings)
    check_secrets(settings)
    other = load_settings(write(tmp_path, SERVICE_ACCOUNT + 'subject = "ventas@example.com"\n'))
    assert other.imap.oauth2 is not None and other.imap.oauth2.subject == "ventas@example.com"


@pytest.mark.parametrize(
    ("keys", "key", "problem"),
    [
        (
            GOOGLE + 'service_account_file = "sa.json"\n',
            "service_account_file",
            "give either refresh_token_file (an OAuth client's refresh token) or "
            "service_account_file (a service account's key with domain-wide delegation), "
            "not both",
        ),
        (
            GOOGLE.replace('refresh_token_file = "refresh.token"\n', ""),
            "refresh_token_file",
            "missing: give refresh_token_file (an OAuth client's refresh token) or "
            "service_account_file",
        ),
        (
            GOOGLE.replace('client_secret_env = "MT_TEST_CLIENT_SECRET"\n', ""),
            "client_secret",
            "missing",
        ),
        (GOOGLE.replace("client_id = ", "x_client_id = "), "client_id", "missing"),
        (GOOGLE + 'subject = "ana@example.com"\n', "subject", "only with service_account_file"),
        (GOOGLE + 'tenant_id = "t"\n', "tenant_id", 'only with oauth2_provider = "microsoft"'),
        (
            GOOGLE.replace("refresh_token_file", "token_url = 1\nrefresh_token_file"),
            "token_url",
            "expected str",
        ),
        (SERVICE_ACCOUNT + 'client_id = "x"\n', "client_id", "not used with service_account_file"),
        (SERVICE_ACCOUNT + 'client_secret = "x"\n', "client_secret", "not used with"),
        (SERVICE_ACCOUNT + 'token_url = "https://x/token"\n', "token_url", "its token_uri"),
        (SERVICE_ACCOUNT + 'tenant_id = "t"\n', "tenant_id", "only with"),
        (SERVICE_ACCOUNT + 'password = "pw"\n', "password", 'not used with auth = "oauth2"'),
        (
            'password = "pw"\nservice_account_file = "sa.json"\n',
            "service_account_file",
            'only with auth = "oauth2"',
        ),
    ],
)
def test_google_faults_are_named(tmp_path: Path, keys: str, key: str, problem: str) -> None:
    path = write(tmp_path, keys)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    line = str(caught.value)
    assert line.startswith(f"{path}: [imap] {key}: ") and problem in line, line
    assert "\n" not in line and "cl13nt-s3cret" not in line


def test_a_service_account_needs_a_subject_when_the_login_has_no_address(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        IMAP.replace('username = "soporte@example.com"', 'username = ""') + SERVICE_ACCOUNT + REST
    )
    with pytest.raises(ConfigError, match=r"\[imap\] subject: missing: the mailbox user"):
        load_settings(path)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("{not json", "is not a service account key"),
        (json.dumps({**KEY, "type": "authorized_user"}), "is not a service account key"),
        (json.dumps({k: v for k, v in KEY.items() if k != "private_key"}), "has no private_key"),
        (json.dumps({**KEY, "client_email": ""}), "has no client_email"),
        (json.dumps({k: v for k, v in KEY.items() if k != "token_uri"}), "has no token_uri"),
    ],
)
def test_a_service_account_key_that_is_not_one_is_refused_at_start(
    tmp_path: Path, key: str, problem: str
) -> None:
    path = write_key(tmp_path, key)
    settings = load_settings(write(tmp_path, SERVICE_ACCOUNT))
    with pytest.raises(ConfigError) as caught:
        check_secrets(settings)
    line = str(caught.value)
    where = f"{tmp_path / 'config.toml'}: [imap] service_account_file: {path.resolve()} "
    assert line.startswith(where) and problem in line, line
    assert "PRIVATE KEY" not in line and "\n" not in line


def test_a_missing_service_account_key_is_refused_at_start(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SERVICE_ACCOUNT))
    with pytest.raises(ConfigError, match=r"\[imap\] service_account_file: cannot read .*"):
        check_secrets(settings)


def test_oauthbearer_is_an_imap_choice_and_xoauth2_the_default(tmp_path: Path) -> None:
    (tmp_path / "refresh.token").write_text("r1\n")
    settings = load_settings(write(tmp_path, GENERIC))
    assert settings.imap.oauth2 is not None and settings.imap.oauth2.mechanism == "xoauth2"
    settings = load_settings(write(tmp_path, GENERIC + 'oauth2_mechanism = "oauthbearer"\n'))
    assert settings.imap.oauth2 is not None and settings.imap.oauth2.mechanism == "oauthbearer"


def test_oauth2_mechanism_is_refused_for_smtp(tmp_path: Path) -> None:
    smtp = '[smtp]\nusername = "soporte@example.com"\n' + GENERIC
    smtp += 'oauth2_mechanism = "xoauth2"\n'
    path = write(tmp_path, 'password = "pw"', REST.replace("[smtp]\n", smtp))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == (
        f"{path}: [smtp] oauth2_mechanism: IMAP only: SMTP logs in with XOAUTH2 "
        "(the mechanism aiosmtplib offers)"
    )


MAILBOX = """\
[[mailboxes]]
name = "soporte"
address = "soporte@example.com"
host = "imap.gmail.com"
username = "soporte@example.com"
"""


def test_a_mailbox_takes_oauth2_mechanism_and_its_own_relay_refuses_it(tmp_path: Path) -> None:
    key = write_key(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(MAILBOX + SERVICE_ACCOUNT + 'oauth2_mechanism = "oauthbearer"\n\n' + REST)
    [box] = load_settings(path).mailboxes
    assert box.imap.oauth2 is not None and box.imap.oauth2.mechanism == "oauthbearer"
    assert box.imap.oauth2.service_account.value == str(key.resolve())
    relay = '[mailboxes.smtp]\nhost = "smtp.gmail.com"\nusername = "soporte@example.com"\n'
    relay += SERVICE_ACCOUNT + 'oauth2_mechanism = "oauthbearer"\n\n'
    path.write_text(MAILBOX + SERVICE_ACCOUNT + "\n" + relay + REST)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    line = str(caught.value)
    assert line.startswith(f"{path}: [[mailboxes]] #1 smtp oauth2_mechanism: IMAP only"), line


def test_smtp_takes_a_service_account_acting_as_its_username(tmp_path: Path) -> None:
    write_key(tmp_path)
    smtp = '[smtp]\nusername = "ventas@example.com"\n' + SERVICE_ACCOUNT
    settings = load_settings(write(tmp_path, 'password = "pw"', REST.replace("[smtp]\n", smtp)))
    oauth2 = settings.smtp.oauth2
    assert oauth2 is not None and oauth2.subject == "ventas@example.com"
    assert oauth2.mechanism == "xoauth2" and oauth2.where.endswith("[smtp]")
    check_secrets(settings)
