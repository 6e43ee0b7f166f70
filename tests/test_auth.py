"""Sign-in: password hashing, the e-mail domain allow-list, the password gate in the app, and the CLI."""

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from journey.ui.auth import email_allowed, hash_password, verify_password

from .conftest import ROOT

APP = f"{ROOT}/app.py"
FAST = 1_000  # iterations in tests; the app uses 600,000


def test_a_password_hash_verifies_only_its_password():
    encoded = hash_password("correct horse", salt=b"0123456789abcdef", iterations=FAST)
    assert encoded.startswith("pbkdf2_sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert "correct horse" not in encoded
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horse ", encoded)
    assert not verify_password("", encoded)
    assert hash_password("correct horse", iterations=FAST) != hash_password("correct horse", iterations=FAST)  # salted


@pytest.mark.parametrize("bad", ["", "plain-text", "md5$1$a$b", "pbkdf2_sha256$x$y$z", "pbkdf2_sha256$10$%%%$@@@"])
def test_a_malformed_hash_never_lets_anyone_in(bad):
    assert not verify_password("anything", bad)


@pytest.mark.parametrize("email, ok", [
    ("ana@shop.com", True), ("Ana@SHOP.COM", True), ("bo@shop.de", True),
    ("eve@evil.com", False), ("eve@shop.com.evil.com", False), ("eve@notshop.com", False),
    ("shop.com", False), ("a@b@shop.com", False), (None, False), ("", False),
])
def test_the_domain_allow_list(email, ok):
    assert email_allowed(email, ["shop.com", "shop.de"]) is ok
    assert email_allowed(email, [])  # no list: anyone signed in


def test_the_password_gate_keeps_the_app_closed_until_the_right_password(monkeypatch):
    monkeypatch.setenv("JOURNEY_AUTH", "password")
    monkeypatch.setenv("JOURNEY_PASSWORD_HASH", hash_password("team secret 1", iterations=FAST))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert not at.metric  # no page ran
    at.text_input(key="sign_in_password").input("wrong guess").run()
    at.button[0].click().run()  # the form's submit button
    assert "not right" in at.error[0].value
    assert not at.metric
    at.text_input(key="sign_in_password").input("team secret 1").run()
    at.button[0].click().run()
    assert not at.exception
    assert "Users" in [m.label for m in at.metric]  # the Overview page ran
    assert at.session_state["signed_in"]


def test_password_mode_without_a_hash_says_what_to_set(monkeypatch):
    monkeypatch.setenv("JOURNEY_AUTH", "password")
    monkeypatch.delenv("JOURNEY_PASSWORD_HASH", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "JOURNEY_PASSWORD_HASH" in at.error[0].value and not at.metric


def test_oidc_mode_asks_to_sign_in_and_shows_nothing_else(monkeypatch):
    monkeypatch.setenv("JOURNEY_AUTH", "oidc")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.button(key="sign_in_oidc").label == "Sign in"
    assert not at.metric and not at.sidebar.radio


def test_cli_hashes_a_password_from_stdin():
    out = subprocess.run([sys.executable, "-m", "journey", "hash-password"], input="team secret 1\n",
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert verify_password("team secret 1", out.stdout.strip())
    short = subprocess.run([sys.executable, "-m", "journey", "hash-password"], input="short\n",
                           capture_output=True, text=True, cwd=ROOT)
    assert short.returncode == 1 and "at least 8" in short.stderr
