"""Secret payload fields: what is redacted, and what is cut out of free text."""

from __future__ import annotations

from jobq.redaction import REDACTED, redact_payload, scrub, scrub_value, secret_values

PAYLOAD = {
    "user": "ada",
    "password": "hunter22",
    "creds": {"token": "tok-abcdef", "pin": 4321, "short": "ab"},
    "list": [{"password": "in-a-list"}],
}
FIELDS = frozenset({"password", "creds"})


def test_secret_fields_are_redacted_at_any_depth() -> None:
    assert redact_payload(PAYLOAD, FIELDS) == {
        "user": "ada",
        "password": REDACTED,
        "creds": REDACTED,
        "list": [{"password": REDACTED}],
    }
    assert PAYLOAD["password"] == "hunter22"  # the payload itself is left alone
    assert redact_payload(PAYLOAD, frozenset()) is PAYLOAD


def test_every_text_of_a_secret_value_is_cut_out() -> None:
    values = secret_values(PAYLOAD, FIELDS)
    message = (
        f"login as {PAYLOAD['user']} with {PAYLOAD['password']!r} failed; creds="
        f"{PAYLOAD['creds']!r}; token tok-abcdef, pin 4321, in-a-list, code ab"
    )
    scrubbed = scrub(message, values)
    assert scrubbed is not None
    for secret in ("hunter22", "tok-abcdef", "4321", "in-a-list"):
        assert secret not in scrubbed, scrubbed
    assert "login as ada" in scrubbed
    assert "code ab" in scrubbed  # shorter than MIN_SCRUBBED: not cut out of free text


def test_results_are_scrubbed_leaf_by_leaf() -> None:
    values = secret_values(PAYLOAD, FIELDS)
    result = {"echo": "pw=hunter22", "n": 4321, "items": ["tok-abcdef", {"k": "ok"}]}
    assert scrub_value(result, values) == {
        "echo": f"pw={REDACTED}",
        "n": 4321,  # numbers stay numbers
        "items": [REDACTED, {"k": "ok"}],
    }
