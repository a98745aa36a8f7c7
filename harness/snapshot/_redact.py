"""What a credential looks like: key names that hold one, value shapes that are one, and the redaction policy.

* **Key names** (:func:`classify`): a name is split into words whatever its spelling (``DB_PASS``, ``dbPass``,
  ``db-pass``, ``DBPass``, ``tls.key``). A word that names a credential (password, pass, pwd, passphrase, secret,
  token, credential, auth…, or ``key`` qualified as one: ``apiKey``, ``masterKey``, ``tls.key``) makes it a
  credential, unless its last word says it only points at one or describes one (``secretName``, ``passwordFile``,
  ``tokenTTL``, ``secretKeyRef``, ``existingSecret``): then it is a reference. A bare ``key`` is a credential in
  flat settings (env names, ConfigMap keys, ``key=value`` lines) and in structured data only under a qualifying
  parent (``tls: {key: …}``; not ``tolerations[].key``). ``--redact-key``/``--keep-key`` (:class:`Policy`) win.
* **Value shapes** (:func:`shapes`): PEM private keys, JWTs, URL user info (scheme, host, port and path kept),
  ``user:pw@tcp(…)`` DSNs, ``key=value``/``key: value`` settings with credential names (``password=…`` in DSNs,
  ``AccountKey=…`` in Azure connection strings, ``sig=…`` in SAS URLs), ``--flag=value``/``--flag value`` with
  credential names, bearer and basic authorization, cloud and SaaS keys by their prefixes (AWS ``AKIA…``, Google
  ``AIza…``, GitHub, GitLab, Slack, Stripe, SendGrid, npm).
* **Random-looking values** (:func:`looks_random`): long single tokens mixing upper case, lower case and digits with
  high entropy; hex hashes, UUIDs, digests and names are not.

Masks keep a value valid where it stood: ``<redacted>`` for text, ``redacted:redacted@`` in a URL, ``0`` for a
number, base64 of ``<redacted>`` where the value was base64.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

REDACTED = "<redacted>"
URL_USER = "redacted"
B64_REDACTED = base64.b64encode(REDACTED.encode()).decode()  # "PHJlZGFjdGVkPg=="

# what a value must not be masked for: switches, references to the environment, template expressions
NOT_A_VALUE = re.compile(r"(?i)(?:true|false|yes|no|on|off|null|none|~|\$\w+|\$\{[^}]*\}|\$\([^)]*\)|\{\{.*\}\})")

# -- key names ------------------------------------------------------------------------------------------------

CREDENTIAL = "credential"
REFERENCE = "reference"  # names or describes a credential (secretName, passwordFile): shapes only below it
PLAIN = "plain"  # not a credential, and not random data (image, digest, uid, caBundle): shapes only, no entropy
NEUTRAL = "neutral"
KEEP = "keep"  # --keep-key

_CREDENTIAL_WORDS = frozenset({
    "password", "passwords", "passwd", "pass", "pwd", "passphrase", "passcode", "secret", "secrets", "token",
    "tokens", "credential", "credentials", "creds", "cred", "apikey", "apikeys", "privatekey", "secretkey",
    "accesskey", "masterkey", "signingkey", "encryptionkey", "licensekey", "authtoken", "accesstoken",
    "refreshtoken", "pat", "sas", "sig", "salt", "cookie",
})
_CREDENTIAL_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token", "apikey", "privatekey", "secretkey",
                        "accesskey", "credentials")
_LAST_ONLY = frozenset({"auth", "authorization", "signature"})  # credentials only as the last word
_PLURAL = frozenset({"passwords", "secrets", "tokens", "credentials", "creds", "apikeys", "keys"})
_KEY_QUALIFIERS = frozenset({
    "private", "api", "access", "secret", "master", "encryption", "encrypt", "decryption", "signing", "sign",
    "client", "shared", "account", "license", "licence", "session", "hmac", "ssh", "tls", "ssl", "ca", "jwt", "aes",
    "rsa", "ecdsa", "ed25519", "root", "admin", "subscription", "primary", "secondary", "deploy", "crypto", "cookie",
    "consumer", "app", "webhook", "cipher", "gpg", "pgp", "sops", "age", "auth", "storage", "server", "service",
    "write", "read", "ingest", "sentry", "stripe", "recaptcha", "captcha", "vapid", "bot", "x",
})
_NOT_KEY_QUALIFIERS = frozenset({  # "<word> key" that is not a credential, even in flat settings
    "public", "sort", "routing", "partition", "cache", "lookup", "foreign", "hot", "label", "node", "match",
    "group", "object", "map", "idempotency", "dedup", "topology", "shard", "metric", "column", "field", "index",
    "row", "hash", "s3", "config", "value", "lock", "unique", "composite", "annotation", "selector", "resource",
})
_REFERENCE_LAST = frozenset({
    "name", "names", "ref", "refs", "reference", "path", "paths", "file", "files", "filename", "dir", "directory",
    "mount", "selector", "namespace", "type", "kind", "enabled", "enable", "disabled", "required", "optional",
    "length", "size", "bits", "ttl", "expiry", "expiration", "expires", "lifetime", "duration", "seconds",
    "minutes", "hours", "days", "timeout", "interval", "period", "format", "encoding", "algorithm", "algo", "alg",
    "mode", "policy", "provider", "version", "url", "uri", "urls", "endpoint", "host", "hostname", "port", "header",
    "prefix", "suffix", "field", "fields", "label", "annotation", "location", "store", "class", "template", "count",
    "limit", "id", "ids", "hash", "checksum", "digest", "fingerprint", "issuer", "audience", "scope", "scopes",
    "realm", "usage", "usages", "role", "source", "from", "generator", "rotation", "strategy", "manager",
    "method", "methods", "requests", "request", "webhook", "backend", "volume", "project",
})
_REFERENCE_SUFFIXES = ("file", "path", "name", "ref", "dir", "refs")
_REFERENCE_FIRST = frozenset({"existing", "use"})
_PLAIN_LAST = frozenset({
    "image", "images", "digest", "hash", "checksum", "sha", "sha1", "sha256", "sha512", "md5", "uid", "uuid", "id",
    "ids", "version", "revision", "generation", "etag", "bundle", "cert", "certs", "certificate", "certificates", "crt",
    "ca", "cacert", "chain", "pem", "fingerprint", "name", "names", "namespace", "kind", "url", "uri", "host",
})
_FILE_WORDS = frozenset({"txt", "yaml", "yml", "json", "conf", "cfg", "ini", "properties", "toml", "env", "xml",
                         "sh", "config", "template", "tpl"})

_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@functools.lru_cache(maxsize=16384)
def words(key: str) -> tuple[str, ...]:
    """The words of a key name, lower-cased: ``DB_PASS``, ``dbPass``, ``db-pass`` and ``DBPass`` are (db, pass)."""
    return tuple(w.lower() for part in _SPLIT.split(key) for w in _CAMEL.findall(part))


def normalize(key: str) -> str:
    """The spelling-free form --redact-key/--keep-key compare: ``MASTER_KEY``, ``masterKey``, ``master-key`` alike."""
    return re.sub(r"[^a-z0-9*?\[\]]", "", key.lower())


@dataclass(frozen=True)
class Policy:
    """Key names a team adds (``--redact-key``) or exempts (``--keep-key``); glob patterns, any spelling."""

    redact_keys: tuple[str, ...] = ()
    keep_keys: tuple[str, ...] = ()

    def decide(self, key: str) -> str | None:
        """CREDENTIAL, KEEP or ``None`` (no opinion) for ``key``."""
        if not self.redact_keys and not self.keep_keys:
            return None
        return _decide(self, key)


@functools.lru_cache(maxsize=16384)
def _decide(policy: Policy, key: str) -> str | None:
    norm = normalize(key)
    if any(fnmatchcase(norm, normalize(p)) for p in policy.redact_keys):
        return CREDENTIAL
    if any(fnmatchcase(norm, normalize(p)) for p in policy.keep_keys):
        return KEEP
    return None


def _is_credential_word(word: str, last: bool) -> bool:
    if word in _CREDENTIAL_WORDS or word.endswith(_CREDENTIAL_SUFFIXES):
        return True
    return last and word in _LAST_ONLY


def classify(key: str, flat: bool, policy: Policy | None = None) -> str:
    """CREDENTIAL, REFERENCE, PLAIN, NEUTRAL or KEEP for a key name; "key" for a bare ``key`` in structured data
    (the caller asks :func:`qualifies` of its parent)."""
    if policy is not None and (policy.redact_keys or policy.keep_keys):
        decided = policy.decide(key)
        if decided is not None:
            return decided
    return _classify(key, flat)


@functools.lru_cache(maxsize=16384)
def _classify(key: str, flat: bool) -> str:
    ws = words(key)
    if flat and len(ws) > 1 and ws[-1] in _FILE_WORDS:  # ConfigMap keys name files: app.yaml, db-password.txt
        ws = ws[:-1]
    if not ws or "public" in ws:
        return NEUTRAL
    last = ws[-1]
    credential = any(_is_credential_word(w, i == len(ws) - 1) for i, w in enumerate(ws))
    if not credential and last in ("key", "keys"):
        before = ws[-2] if len(ws) > 1 else ""
        if before in _KEY_QUALIFIERS or (flat and before not in _NOT_KEY_QUALIFIERS):
            credential = True
        elif not before:
            return "key"
    if credential:
        if (len(ws) > 1 and (last in _REFERENCE_LAST or last.endswith(_REFERENCE_SUFFIXES))) or (
            ws[0] in _REFERENCE_FIRST
        ):
            return REFERENCE
        return CREDENTIAL
    return PLAIN if last in _PLAIN_LAST or last.endswith(("digest", "hash", "checksum")) else NEUTRAL


def key_classifier(policy: Policy) -> Callable[[str, bool], str]:
    """:func:`classify` with ``policy`` bound (the memoised built-in rules themselves when it adds nothing)."""
    if not policy.redact_keys and not policy.keep_keys:
        return _classify
    return functools.partial(classify, policy=policy)


@functools.lru_cache(maxsize=4096)
def qualifies(parent: str) -> bool:
    """Whether a bare ``key`` under ``parent`` is a credential (``tls``, ``ssh``, ``apiCredentials``…)."""
    ws = words(parent)
    return bool(ws) and "public" not in ws and (
        any(w in _KEY_QUALIFIERS for w in ws) or any(_is_credential_word(w, False) for w in ws)
    ) and not (ws[-1] in _REFERENCE_LAST or ws[-1].endswith(_REFERENCE_SUFFIXES))


def is_plural(key: str) -> bool:
    """A credential key whose mapping holds several credentials (``secrets: {db: …, api: …}``)."""
    ws = words(key)
    return bool(ws) and ws[-1] in _PLURAL


# -- value shapes ---------------------------------------------------------------------------------------------

# cheap first look (lower-cased substrings): a value holding none of these holds no shape below
_HINTS = ("pass", "pwd", "secret", "token", "key", "cred", "auth", "sig", "salt", "cookie", "sas", "_pat", "pat_", "://",
          "@tcp(", "@unix(", "bearer", "basic", "-----begin", "eyj", "akia", "asia", "aiza", "gh", "glpat", "xox",
          "_live_", "_test_", "sg.", "npm_", "private")


# Hints holding a character that most texts lack are looked for only where that character is (one memchr scan
# instead of a substring search each). "gh" is there for GitHub tokens (ghp_…, github_pat_…): both hold "_".
_GATES = (("_", ("gh", "_pat", "pat_", "_live_", "_test_", "npm_")), ("@", ("@tcp(", "@unix(")), ("j", ("eyj",)),
          ("z", ("aiza",)), ("x", ("xox",)))
_UNGATED = tuple(h for h in _HINTS if not any(h in hs for _, hs in _GATES))


def hint(text: str) -> bool:
    """Whether ``text`` may hold a credential shape or a credential-like key (a fast, loose test)."""
    return _hint_long(text) if len(text) >= 256 else _hint(text)


@functools.lru_cache(maxsize=64)
def _hint_long(text: str) -> bool:  # a document is looked at twice in a row: for shapes, then for its structure
    return _hint(text)


def _hint(text: str) -> bool:
    low = text.lower()
    if any(map(low.__contains__, _UNGATED)):
        return True
    return any(c in low and any(map(low.__contains__, hs)) for c, hs in _GATES)


_PEM_PRIVATE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY((?: BLOCK)?)-----.*?(?:-----END \1PRIVATE KEY\2-----|\Z)", re.DOTALL
)
_JWT = re.compile(r"\beyJ[\w-]{6,}\.eyJ[\w-]{6,}\.[\w-]*")
_PREFIXED = re.compile(
    r"\b(?:(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}|AIza[\w-]{35}|gh[pousr]_[A-Za-z0-9]{36,}"
    r"|github_pat_\w{40,}|glpat-[\w-]{20,}|xox[abposr]-[\w-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|SG\.[\w-]{16,}\.[\w-]{16,}|npm_[A-Za-z0-9]{36})\b"
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@?#'\"<>]+)@")
_TCP_DSN = re.compile(r"(?<![\w/])([\w.\-]+):([^@\s/]+)@(tcp|unix)\(")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)([ \t]+)([A-Za-z0-9\-._~+/]{6,}=*)")
_FLAG = re.compile(r"""(?<![\w\-])(--?[A-Za-z][\w.\-]*)(=|[ \t]+)("[^"\n]*"|'[^'\n]*'|[^\s"'`;|&)]+)""")
_PAIR = re.compile(
    r"""(?m)(?:(?<=[\s{,;&?(\[])|^)(["']?)([A-Za-z_][\w.\-]*)\1([ \t]*[:=][ \t]*)"""
    r"""("[^"\n]*"|'[^'\n]*'|\$\{[^}\n]*\}|[^\s,;&}\])"'\[{][^\s,;&}\])]*)"""
)
_AUTH_WORDS = frozenset({"bearer", "basic", "token", "digest", "negotiate", "ntlm", "aws4-hmac-sha256"})


_NOTHING = frozenset({REDACTED, B64_REDACTED, "", "|", ">", "|-", ">-", "|+", ">+"})  # masked, or a YAML block start


_FILE_PATH = re.compile(r"(?:~|\.{1,2})?/[\w.\-]+(?:/[\w.\-]+)*/?")


def is_masked(value: str) -> bool:
    """Whether ``value`` is already masked, or is no value to mask (a switch, ``${VAR}``, ``{{ template }}``, a file
    path such as ``--tls-key=/etc/tls/key``)."""
    v = value.strip("\"'")
    return REDACTED in v or v in _NOTHING or bool(NOT_A_VALUE.fullmatch(v)) or (
        bool(_FILE_PATH.fullmatch(v)) and not looks_random(v.replace("/", "")))


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _requote(value: str, mask: str = REDACTED) -> str:
    """The mask in ``value``'s clothes: quoted if it was, ``0`` for a bare number (JSON and YAML stay valid)."""
    if value[:1] in ("'", '"') and len(value) > 1:
        return f"{value[0]}{mask}{value[0]}"
    return "0" if _NUMBER.fullmatch(value) else mask


_NO_POLICY = Policy()


def shapes(text: str, policy: Policy = _NO_POLICY) -> tuple[str, list[str]]:
    """``text`` with every credential-shaped part masked, and why (the same object back when nothing is)."""
    if len(text) < 8:
        return text, []
    if not policy.redact_keys and not policy.keep_keys:
        new, why = _shapes_cached(text)
        return (text, []) if not why else (new, list(why))
    return _shapes(text, policy)


@functools.lru_cache(maxsize=32768)
def _shapes_cached(text: str) -> tuple[str, tuple[str, ...]]:
    new, why = _shapes(text, _NO_POLICY)
    return new, tuple(why)


def _shapes(text: str, policy: Policy) -> tuple[str, list[str]]:
    if not hint(text):
        return text, []
    why: list[str] = []
    out = text

    def sub(pattern: re.Pattern[str], repl: str | Callable[[re.Match[str]], str], reason: str) -> None:
        nonlocal out
        new = pattern.sub(repl, out)
        if new != out:
            why.append(reason)
            out = new

    if "PRIVATE KEY" in out:
        sub(_PEM_PRIVATE, REDACTED, "private key")
    sub(_JWT, REDACTED, "JWT")
    sub(_PREFIXED, REDACTED, "cloud or service key")
    if "://" in out:
        sub(_URL_USERINFO, _url_userinfo, "URL user info")
    if "@tcp(" in out or "@unix(" in out:
        sub(_TCP_DSN, lambda m: f"{URL_USER}:{URL_USER}@{m.group(3)}(", "DSN user info")
    sub(_AUTH_SCHEME, _mask_auth, "authorization header")
    if "-" in out:
        sub(_FLAG, lambda m: _mask_flag(m, policy), "credential flag")
    if "=" in out or ":" in out:
        sub(_PAIR, lambda m: _mask_pair(m, policy), "credential setting")
    return (text, []) if out == text else (out, why)


def _url_userinfo(m: re.Match[str]) -> str:
    info = m.group(2)
    if info in (URL_USER, f"{URL_USER}:{URL_USER}"):
        return m.group(0)
    return f"{m.group(1)}{URL_USER}:{URL_USER}@" if ":" in info else f"{m.group(1)}{URL_USER}@"


def _mask_auth(m: re.Match[str]) -> str:
    token = m.group(3)
    if is_masked(token) or (token.isalpha() and (token.islower() or token.istitle())):  # "basic authentication"
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{REDACTED}"


def _mask_flag(m: re.Match[str], policy: Policy) -> str:
    value = m.group(3)
    if is_masked(value) or value.startswith("-") or classify(m.group(1).lstrip("-"), True, policy) != CREDENTIAL:
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{_requote(value)}"


def _mask_pair(m: re.Match[str], policy: Policy) -> str:
    key, value = m.group(2), m.group(4)
    if is_masked(value) or value.lower() in _AUTH_WORDS or value.startswith("//"):
        return m.group(0)
    kind = classify(key, True, policy)
    if kind == CREDENTIAL or (kind == NEUTRAL and looks_random(value.strip("\"'"))):
        return f"{m.group(1)}{key}{m.group(1)}{m.group(3)}{_requote(value)}"
    return m.group(0)


# -- random-looking values -------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~!@#$%^&*?]{16,}")
_HEXISH = re.compile(r"(?i)[0-9a-f:\-]+")
_WORDLIKE = re.compile(r"[A-Z][a-z]{3,}|[a-z]{4,}")
_DOTTED_WORDS = re.compile(r"[A-Za-z][a-z]*\d*(?:[.\-_][A-Za-z][a-z]*\d*)+")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_\-]+={0,2}")
_SAFE_DECODED = ("-----BEGIN CERTIFICATE", "-----BEGIN PUBLIC KEY", "-----BEGIN X509 CRL", "-----BEGIN TRUSTED")


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def looks_random(s: str) -> bool:
    """A long single token mixing cases and digits with high entropy (a generated key or password), not a hash,
    UUID, digest, name, version or an identifier made of words."""
    if len(s) < 16 or s.islower() or s.isupper() or not _TOKEN.fullmatch(s) or _HEXISH.fullmatch(s) \
            or _DOTTED_WORDS.fullmatch(s):
        return False
    upper = lower = digit = 0
    for c in s:
        if c.isdigit():
            digit += 1
        elif c.isupper():
            upper += 1
        elif c.islower():
            lower += 1
    if (digit < 1 and len(s) < 20) or lower < 2 or upper < 2:
        return False
    if sum(len(w) for w in _WORDLIKE.findall(s)) * 5 >= len(s) * 3:  # mostly words: an identifier, not a key
        return False
    return entropy(s) >= (3.5 if len(s) < 24 else 3.9)


def b64_decoded(s: str) -> str | bytes | None:
    """What a base64 value holds: its text (UTF-8, printable), its bytes (binary), or ``None`` if not base64."""
    if len(s) < 12 or len(s) % 4 or not _B64.fullmatch(s) or s.isalpha() or s.isdigit():
        return None
    try:
        raw = base64.b64decode(s, altchars=b"-_" if ("-" in s or "_" in s) else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return text if text.isprintable() or all(c.isprintable() or c in "\r\n\t" for c in text) else raw


def is_safe_blob(s: str) -> bool:
    """A certificate or public key (plain PEM or base64 of one): not a secret, however random it looks."""
    if s.lstrip().startswith(_SAFE_DECODED):
        return True
    return s.startswith(("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS", "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS"))


def mask_for(value: str) -> str:
    """The mask that keeps ``value``'s form: what is plainly base64 (padded, or with ``+``/``/``) stays base64."""
    looks_b64 = value.endswith("=") or "+" in value or "/" in value
    return B64_REDACTED if looks_b64 and len(value) >= 16 and b64_decoded(value) is not None else REDACTED


# -- the masks a snapshot records, and the policy in force -----------------------------------------------------


class Masks:
    """Where values were masked: ``"<object>: <path> (<why>)"`` entries, never the values (thread-safe)."""

    def __init__(self) -> None:
        self._entries: set[str] = set()
        self._lock = threading.Lock()

    def add(self, entry: str) -> None:
        with self._lock:
            self._entries.add(entry)

    def entries(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)


@dataclass
class Session:
    """The policy redaction follows and where it records masks (``None``: nowhere)."""

    policy: Policy = field(default_factory=Policy)
    masks: Masks | None = None


_active = [Session()]  # one entry: the session in force
_active_lock = threading.Lock()


def current() -> Session:
    """The session in force (set by :func:`session`; the default policy and no record outside one)."""
    return _active[0]


@contextlib.contextmanager
def session(policy: Policy | None = None) -> Iterator[Masks]:
    """Redact with ``policy`` (``None``: the one in force) and record masks, for everything redacted in this process
    until the block ends (process-wide, not per thread: a snapshot's lists may be prepared on several threads)."""
    masks = Masks()
    with _active_lock:
        previous = _active[0]
        _active[0] = Session(policy if policy is not None else previous.policy, masks)
    try:
        yield masks
    finally:
        with _active_lock:
            _active[0] = previous
