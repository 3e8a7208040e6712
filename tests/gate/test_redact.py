"""The redactor: secret environment values, token shapes, secret keys, extra patterns, argv."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.redact import MIN_SECRET_LENGTH, REDACTED, RULES, Redactor, looks_secret
from ledger.errors import ErrorCode, InvalidInput

GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PLAIN = Redactor.from_environ({})


def redact(text: str, environ: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> str:
    return Redactor.from_environ(environ or {}, extra).redact(text)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("GITHUB_TOKEN", True),
        ("db_password", True),
        ("MYSQL_PASSWD", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("OPENAI_API_KEY", True),
        ("APIKEY", True),
        ("GCP_PRIVATE_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("NPM_AUTH", True),
        ("PATH", False),
        ("HOME", False),
        ("LANG", False),
        ("KEYBOARD", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_secret_env_values_are_redacted_wherever_they_occur() -> None:
    environ = {"DEPLOY_TOKEN": "t0k3n-value", "HOME": "/home/alice"}
    assert redact("a t0k3n-value b t0k3n-value", environ) == f"a {REDACTED} b {REDACTED}"
    # Values of variables whose names do not look secret stay.
    assert redact("in /home/alice", environ) == "in /home/alice"


def test_short_secret_values_are_left_alone() -> None:
    environ = {"A_TOKEN": "x" * (MIN_SECRET_LENGTH - 1), "B_TOKEN": "y" * MIN_SECRET_LENGTH}
    assert redact("xxx yyyy", environ) == f"xxx {REDACTED}"


def test_overlapping_secret_values_are_both_covered() -> None:
    # "abcd" and "cdef" overlap in "abcdef": neither part may survive.
    environ = {"ONE_SECRET": "abcd", "TWO_SECRET": "cdef", "LONG_SECRET": "abcdefgh"}
    assert redact("abcdef", environ) == REDACTED
    assert redact("abcdefgh!", environ) == f"{REDACTED}!"
    assert Redactor.from_environ(environ).secrets == ("abcdefgh", "abcd", "cdef")


def test_each_line_of_a_multi_line_secret_counts_on_its_own() -> None:
    environ = {"SSH_PRIVATE_KEY": "line-one\nline-two\nx"}
    assert redact("only line-two here", environ) == f"only {REDACTED} here"
    assert redact("line-one\nline-two\nx", environ) == REDACTED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"push {GHP} done", f"push {REDACTED} done"),
        ("gho_0123456789abcdefABCD", REDACTED),
        ("ghs_0123456789abcdefABCD ghu_0123456789abcdefABCD", f"{REDACTED} {REDACTED}"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijkl", REDACTED),
        ("ghp_short", "ghp_short"),
        ("id AKIAIOSFODNN7EXAMPLE.", f"id {REDACTED}."),
        ("xoxb-123456789012-abcdefghij", REDACTED),
        ("Authorization: Basic dXNlcjpwYXNz\nnext", f"Authorization: {REDACTED}\nnext"),
        ("proxy-authorization=Negotiate abc", f"proxy-authorization={REDACTED}"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln ok", f"sent Bearer {REDACTED} ok"),
        ("the bearer of bad news", "the bearer of bad news"),
        ("https://bob:hunter2@example.com/x", f"https://bob:{REDACTED}@example.com/x"),
        ("git+ssh://u:p@ss@host:22/r", f"git+ssh://u:{REDACTED}@host:22/r"),
        ("https://example.com:8443/path@x", "https://example.com:8443/path@x"),
        ("GET /x?token=abc123&page=2", f"GET /x?token={REDACTED}&page=2"),
        ("DB_PASSWORD=hunter2 other=1", f"DB_PASSWORD={REDACTED} other=1"),
        ("api_key = 'a b c' next", f"api_key = {REDACTED} next"),
        ('client_secret="quoted value"', f"client_secret={REDACTED}"),
        ('{"api_key": "abc\\"def", "n": 1}', f'{{"api_key": {REDACTED}, "n": 1}}'),
        ("  password: hunter2\nname: alice", f"  password: {REDACTED}\nname: alice"),
        ("- token: abc", f"- token: {REDACTED}"),
        ("run --token abc --verbose", f"run --token {REDACTED} --verbose"),
        ("deploy --db-password 'two words'", f"deploy --db-password {REDACTED}"),
        ("nothing secret here: 42", "nothing secret here: 42"),
    ],
)
def test_token_shapes_and_secret_keys(text: str, expected: str) -> None:
    assert PLAIN.redact(text) == expected


def test_pem_blocks_whole_unterminated_and_headless() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIB\nAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    assert PLAIN.redact(f"before\n{block}\nafter") == f"before\n{REDACTED}\nafter"
    # The END line was cut off: everything from BEGIN on goes.
    assert PLAIN.redact("before\n-----BEGIN PRIVATE KEY-----\nMIIE\nmore") == f"before\n{REDACTED}"
    # The BEGIN line was cut off: everything up to END goes.
    headless = "MIIEpAIB\nAAKCAQEA\n-----END OPENSSH PRIVATE KEY-----\nafter"
    assert PLAIN.redact(headless) == f"{REDACTED}\nafter"
    # A public certificate is not a secret, and an END after a full block is not headless.
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert PLAIN.redact(cert) == cert
    assert PLAIN.redact(f"keep\n{block}") == f"keep\n{REDACTED}"


def test_extra_patterns_redact_their_whole_match() -> None:
    assert redact("ticket corp-1234 done", extra=(r"corp-[0-9]+",)) == f"ticket {REDACTED} done"
    # A group named `s` means nothing special in an extra pattern.
    assert redact("id=abc", extra=(r"id=(?P<s>\w+)",)) == REDACTED
    # Empty matches redact nothing.
    assert redact("abc", extra=(r"x*",)) == "abc"


def test_an_invalid_extra_pattern_is_a_config_error() -> None:
    with pytest.raises(InvalidInput) as caught:
        Redactor.from_environ({}, ["("])
    assert caught.value.code == ErrorCode.INVALID_CONFIG
    assert caught.value.details == {"pattern": "("}


def test_existing_markers_are_left_alone() -> None:
    environ = {"SOME_TOKEN": "REDA"}
    once = redact(f"token=abc {GHP} REDA", environ)
    assert once == f"token={REDACTED} {REDACTED} {REDACTED}"
    assert redact(once, environ) == once


def test_touching_and_overlapping_matches_become_one_marker() -> None:
    assert redact("abcdwxyz", {"A_TOKEN": "abcd", "B_TOKEN": "wxyz"}) == REDACTED


def test_argv_flag_hides_the_next_argument_and_assignment_its_value() -> None:
    argv = [
        "curl",
        "--password",
        "two words",
        "--token=x y",
        "-H",
        "Authorization: Bearer abcdefghij",
        "API_TOKEN=abc def",
        "plain",
        "--auth",
        "",
    ]
    assert PLAIN.redact_argv(argv) == (
        "curl",
        "--password",
        REDACTED,
        f"--token={REDACTED}",
        "-H",
        f"Authorization: {REDACTED}",
        f"API_TOKEN={REDACTED}",
        "plain",
        "--auth",
        "",
    )


def test_argv_arguments_get_the_text_rules_and_env_values() -> None:
    redactor = Redactor.from_environ({"NPM_TOKEN": "npm-secret-1"})
    assert redactor.redact_argv(["npm", "--registry=https://u:pw@r.example", "npm-secret-1"]) == (
        "npm",
        f"--registry=https://u:{REDACTED}@r.example",
        REDACTED,
    )


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "text",
    [
        "a" * 200_000,
        "token" * 40_000,
        "-token" * 30_000,
        '"' + "password" * 20_000,
        "-----BEGIN PRIVATE KEY-----" * 5_000,
        "x://" * 50_000,
    ],
)
def test_long_adversarial_text_is_linear_enough(text: str) -> None:
    # Quadratic backtracking would take hours here; the timeout turns that into a failure.
    assert len(PLAIN.redact(text)) > 0


def test_redaction_is_deterministic() -> None:
    environ = {"Z_TOKEN": "zzzz-1", "A_TOKEN": "aaaa-1"}
    text = f"aaaa-1 zzzz-1 {GHP} password=x"
    reordered = dict(reversed(list(environ.items())))
    assert redact(text, environ) == redact(text, reordered)


def test_every_rule_is_documented() -> None:
    spec = (Path(__file__).resolve().parents[2] / "specs" / "probes.md").read_text("utf-8")
    for name in RULES:
        assert f"`{name}`" in spec, name


_SECRET_CHARS = string.ascii_lowercase + string.digits


@given(
    before=st.text(max_size=60),
    after=st.text(max_size=60),
    secret=st.text(alphabet=_SECRET_CHARS, min_size=MIN_SECRET_LENGTH, max_size=24),
)
def test_a_secret_value_never_survives(before: str, after: str, secret: str) -> None:
    redactor = Redactor.from_environ({"THE_SECRET": secret})
    assert secret not in redactor.redact(before + secret + after)
