"""Redaction by key name and by value shape, without a cluster: which names hold credentials (in every spelling),
which values look like one, and the --redact-key/--keep-key policy."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.errors import InputError
from harness.snapshot import _redact
from harness.snapshot._redact import CREDENTIAL, KEEP, NEUTRAL, PLAIN, REDACTED, REFERENCE, Policy, classify, shapes
from harness.snapshot.redaction import policy_from


def spellings(*ws: str) -> list[str]:
    """snake, camel, kebab and upper forms of a name made of ``ws``."""
    return ["_".join(ws), ws[0] + "".join(w.title() for w in ws[1:]), "-".join(ws), "_".join(ws).upper()]


CREDENTIAL_NAMES = [("master", "key"), ("encryption", "key"), ("signing", "key"), ("access", "key"), ("db", "pass"),
                    ("mysql", "pwd"), ("passphrase",), ("api", "key"), ("client", "secret"), ("auth", "token"),
                    ("secret", "key", "base"), ("account", "key"), ("erlang", "cookie"), ("github", "token"),
                    ("private", "key"), ("db", "password"), ("session", "key"), ("aws", "secret", "access", "key")]
NOT_CREDENTIALS = [("secret", "name"), ("password", "file"), ("existing", "secret"), ("secret", "key", "ref"),
                   ("token", "ttl"), ("public", "key"), ("monkey",), ("sort", "key"), ("ca", "bundle"), ("mode",),
                   ("token", "url"), ("password", "min", "length"), ("key", "vault", "name"), ("routing", "key")]


@pytest.mark.parametrize("ws", CREDENTIAL_NAMES, ids="_".join)
def test_credential_names_in_every_spelling(ws: tuple[str, ...]) -> None:
    for name in spellings(*ws):
        assert classify(name, True) == CREDENTIAL, name
        assert classify(name, False) == CREDENTIAL, name


@pytest.mark.parametrize("ws", NOT_CREDENTIALS, ids="_".join)
def test_references_and_plain_names_are_not_credentials(ws: tuple[str, ...]) -> None:
    for name in spellings(*ws):
        assert classify(name, True) in (REFERENCE, PLAIN, NEUTRAL), name


def test_joined_words_and_file_names() -> None:
    assert classify("PGPASSWORD", True) == CREDENTIAL  # one word ending in password
    assert classify("db-password.txt", True) == CREDENTIAL  # a ConfigMap key naming a file
    assert classify("app.yaml", True) == NEUTRAL
    assert classify("tls.key", True) == CREDENTIAL
    assert classify("-Dspring.datasource.password", True) == CREDENTIAL


def test_bare_key_is_a_credential_only_where_it_can_be_one() -> None:
    assert classify("key", True) == CREDENTIAL  # env name, ConfigMap key, key=value line
    assert classify("key", False) == "key"  # structured data: it depends on the parent
    assert _redact.qualifies("tls") and _redact.qualifies("sshCredentials")
    assert not _redact.qualifies("tolerations") and not _redact.qualifies("secretKeyRef")


@pytest.mark.parametrize(
    ("text", "expected", "why"),
    [
        ("postgres://app:hunter2@db.shop:5432/shop?sslmode=require", "postgres://redacted:redacted@db.shop:5432/shop"
         "?sslmode=require", "URL user info"),
        ("https://abc123def@o42.ingest.sentry.io/7", "https://redacted@o42.ingest.sentry.io/7", "URL user info"),
        ("root:pw@tcp(db:3306)/shop", "redacted:redacted@tcp(db:3306)/shop", "DSN user info"),
        ("host=db user=app password=hunter2 dbname=x", "host=db user=app password=<redacted> dbname=x",
         "credential setting"),
        ("Server=db;Database=x;User Id=app;Pwd=hunter2;", "Server=db;Database=x;User Id=app;Pwd=<redacted>;",
         "credential setting"),
        ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=bm90LXJlYWw=;EndpointSuffix=core.windows.net",
         "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<redacted>;EndpointSuffix=core.windows.net",
         "credential setting"),
        ("https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=abcDEF123%3D", "https://acct.blob.core.windows.net/c"
         "?sv=2022-11-02&sig=<redacted>", "credential setting"),
        ("key id AKIAIOSFODNN7EXAMPLE here", f"key id {REDACTED} here", "cloud or service key"),
        ("maps AIzaSyA1234567890abcdefghijklmnopqrstuv", f"maps {REDACTED}", "cloud or service key"),
        ("ghp_" + "a1B2" * 9, REDACTED, "cloud or service key"),
        ("Authorization: Bearer abc.DEF-123", "Authorization: Bearer <redacted>", "authorization header"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic <redacted>", "authorization header"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig_nature-1", REDACTED, "JWT"),
        ("app --db-password=hunter2 --verbose", "app --db-password=<redacted> --verbose", "credential flag"),
        ("app --api-token hunter2 --verbose", "app --api-token <redacted> --verbose", "credential flag"),
        ("java -Dspring.datasource.password=hunter2 -jar a.jar", "java -Dspring.datasource.password=<redacted> "
         "-jar a.jar", "credential flag"),
    ],
)
def test_credential_shapes(text: str, expected: str, why: str) -> None:
    masked, reasons = shapes(text)
    assert masked == expected
    assert why in reasons


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
def test_pem_private_keys_plain_and_json_escaped(kind: str) -> None:
    pem = f"-----BEGIN {kind}PRIVATE KEY-----\nMIIEsecretBODY\n-----END {kind}PRIVATE KEY-----\n"
    assert "secretBODY" not in shapes(f"x\n{pem}y")[0]
    service_account = json.dumps({"type": "service_account", "private_key": pem, "client_email": "a@b.iam"})
    masked = shapes(service_account)[0]
    assert "secretBODY" not in masked and json.loads(masked)["client_email"] == "a@b.iam"


@pytest.mark.parametrize(
    "text",
    ["-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n", "use basic authentication",
     "password=${DB_PASSWORD}", "token: {{ .Values.token }}", "enable_token_auth=true", "password_file=/etc/pw",
     "image: registry.k8s.io/pause:3.9", "replicas: 3\nimage: nginx", "secretName: web-tls", "git@github.com:a/b",
     "--validating-webhook-key=/usr/local/certificates/key", "tls.key: ./certs/tls.key"],
)
def test_not_credentials_are_kept(text: str) -> None:
    assert shapes(text)[0] == text


def test_masked_documents_stay_parseable() -> None:
    masked = shapes('{"user": "app", "pin": 123456, "password": "pw", "port": 5432}')[0]
    assert json.loads(masked) == {"user": "app", "pin": 123456, "password": REDACTED, "port": 5432}
    assert json.loads(shapes('{"password": 123456}')[0]) == {"password": 0}  # a number stays a number


def test_masked_url_is_still_the_same_url() -> None:
    original = urlsplit("mongodb+srv://admin:s3cr3t@cluster0.example.net:27017/app?retryWrites=true")
    masked = urlsplit(shapes(original.geturl())[0])
    assert (masked.scheme, masked.hostname, masked.port, masked.path, masked.query) == (
        original.scheme, original.hostname, original.port, original.path, original.query)
    assert masked.username == masked.password == "redacted"


def test_random_looking_values() -> None:
    generated = [secrets.token_urlsafe(24), base64.b64encode(secrets.token_bytes(30)).decode(),
                 "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "Xk9#mP2$vL8@qR4!zT"]
    assert all(_redact.looks_random(g) for g in generated), generated
    not_random = ["0123456789abcdef0123456789abcdef", "6f1c0a2e-8d7b-4a3b-9c1e-0f2d3b4a5c6d", "sha256:" + "ab" * 32,
                  "registry.example.com/shop/web:2.0.1", "shop-web-5d9f7c7b6-x2x9z",
                  "KubeletPodResourcesGetAllocatable", "io.k8s.api.core.v1.PodSpec", "MyApplicationName2024Final",
                  "eu-west-1a", "short1A"]
    assert not any(_redact.looks_random(n) for n in not_random)


def test_policy_in_any_spelling_and_with_wildcards() -> None:
    policy = Policy(redact_keys=("licenseCode", "*_pin"), keep_keys=("BUILD_TOKEN",))
    for name in spellings("license", "code"):
        assert classify(name, True, policy) == CREDENTIAL, name
    assert classify("card_pin", False, policy) == CREDENTIAL
    for name in spellings("build", "token"):
        assert classify(name, True, policy) == KEEP, name
    assert classify("licenseCode", True) == NEUTRAL  # without the policy


def test_kept_keys_still_lose_unmistakable_credentials() -> None:
    policy = Policy(keep_keys=("buildToken",))
    assert shapes("buildToken=abc123", policy)[0] == "buildToken=abc123"
    assert shapes("buildToken=https://u:pw@h/x", policy)[0] == "buildToken=https://redacted:redacted@h/x"


@pytest.mark.parametrize(
    ("redact", "keep", "message"),
    [(["has space"], [], "--redact-key 'has space'"), ([], ["*"], "--keep-key '*'"), (["a_b"], ["A-B"], "both")],
)
def test_policy_from_rejects_bad_keys(redact: list[str], keep: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        policy_from(redact, keep)


@pytest.mark.parametrize("args", [["--redact-key", "a b"], ["--redact-key", "DB_TOKEN", "--keep-key", "db-token"]])
def test_cli_rejects_bad_keys_before_reading_a_cluster(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "snapshot", *args, "--kubeconfig",
                             str(tmp_path / "missing"), "-o", str(tmp_path / "s.yaml")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "key" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.yaml").exists()
