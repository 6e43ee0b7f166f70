"""Sign-in for a shared dashboard (ADR 0011): off by default, OpenID Connect or a shared password.

``JOURNEY_AUTH`` chooses the mode:

- ``none`` (default): no sign-in, for an analyst's own machine.
- ``oidc``: Streamlit's built-in OpenID Connect (``st.login``), configured in ``.streamlit/secrets.toml``
  under ``[auth]`` (Google, Microsoft, Okta, Auth0…). ``JOURNEY_AUTH_PROVIDER`` names the provider when
  several are configured. ``JOURNEY_ALLOWED_DOMAINS`` (comma-separated, e.g. ``shop.com,shop.de``) lets in
  only those e-mail domains.
- ``password``: one shared password for a small team. Only its hash is stored, in
  ``JOURNEY_PASSWORD_HASH`` (make one with ``python -m journey hash-password``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time

MODES = ("none", "oidc", "password")
ITERATIONS = 600_000  # PBKDF2-SHA256, OWASP's 2023 figure
SCHEME = "pbkdf2_sha256"


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """A salted PBKDF2-SHA256 hash of a password, as ``pbkdf2_sha256$iterations$salt$hash``.

    Returns
    -------
    str: the encoded hash, safe to keep in an environment variable or a secrets file.
    """
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    enc = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"{SCHEME}${iterations}${enc(salt)}${enc(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches a hash made by :func:`hash_password` (constant-time compare).

    Returns
    -------
    bool; False for a malformed hash too.
    """
    try:
        scheme, iterations, salt, digest = encoded.strip().split("$")
        if scheme != SCHEME:
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def allowed_domains() -> list[str]:
    """The e-mail domains let in (lower case), from ``JOURNEY_ALLOWED_DOMAINS``; empty means any."""
    raw = os.environ.get("JOURNEY_ALLOWED_DOMAINS", "")
    return [d.strip().lower().lstrip("@") for d in raw.split(",") if d.strip()]


def email_allowed(email: str | None, domains: list[str]) -> bool:
    """True when no domains are listed, or the address is in one of them (exactly, not a look-alike).

    Returns
    -------
    bool
    """
    if not domains:
        return True
    if not email or email.count("@") != 1:
        return False
    return email.rsplit("@", 1)[1].strip().lower() in domains


def mode() -> str:
    """The sign-in mode from ``JOURNEY_AUTH`` (``none`` when unset)."""
    return os.environ.get("JOURNEY_AUTH", "none").strip().lower() or "none"


def signed_in() -> bool:
    """True when the visitor may see the app: no sign-in configured, or signed in (and allowed)."""
    import streamlit as st

    how = mode()
    if how == "none":
        return True
    if how == "password":
        return bool(st.session_state.get("signed_in"))
    if how == "oidc":
        return _oidc_logged_in(st) and email_allowed(getattr(st.user, "email", None), allowed_domains())
    return False


def _oidc_logged_in(st) -> bool:
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # noqa: BLE001 - Streamlit raises when [auth] is missing or incomplete
        return False


def gate() -> None:
    """Stop the page here unless the visitor is signed in (does nothing in mode ``none``)."""
    import streamlit as st

    if signed_in():
        return
    how = mode()
    if how not in MODES:
        st.error(f"JOURNEY_AUTH is {how!r}; use one of: {', '.join(MODES)}.")
        st.stop()
    if how == "password":
        _password_gate(st)
    else:
        _oidc_gate(st)


def _password_gate(st) -> None:
    encoded = os.environ.get("JOURNEY_PASSWORD_HASH", "")
    st.title("Journey")
    if not encoded:
        st.error("Sign-in by password is on (JOURNEY_AUTH=password) but JOURNEY_PASSWORD_HASH is not set. "
                 "Make a hash with `python -m journey hash-password` and set it where the app runs.")
        st.stop()
    with st.form("sign_in"):
        password = st.text_input("Team password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if verify_password(password, encoded):
            st.session_state["signed_in"] = True
            st.session_state.pop("sign_in_failures", None)
            st.rerun()
        failures = st.session_state.get("sign_in_failures", 0) + 1
        st.session_state["sign_in_failures"] = failures
        time.sleep(min(2 ** failures, 30) / 10)  # slows guessing down
        st.error("That password is not right.")
    st.stop()


def _oidc_gate(st) -> None:
    provider = os.environ.get("JOURNEY_AUTH_PROVIDER") or None
    if not _oidc_logged_in(st):
        st.title("Journey")
        st.write("This dashboard is shared with your team. Sign in to open it.")
        if st.button("Sign in", type="primary", key="sign_in_oidc"):
            try:
                st.login(provider)
            except Exception as e:  # noqa: BLE001 - a configuration error, shown to the person deploying
                st.error(f"Sign-in is not configured: {e}. Add an [auth] section to .streamlit/secrets.toml "
                         "(see README, 'Share with your team').")
        st.stop()
    # signed in with the provider, but not from an allowed domain (gate only gets here when refused)
    email = getattr(st.user, "email", None)
    st.title("Journey")
    st.error(f"{email or 'This account'} is not in the domains this dashboard is shared with "
             f"({', '.join(allowed_domains())}). Sign in with your work account.")
    st.button("Sign out", on_click=st.logout, key="sign_out_refused")
    st.stop()


def sign_out_button() -> None:
    """In the sidebar, once signed in: who is signed in, and a button to sign out."""
    import streamlit as st

    how = mode()
    if how == "oidc":
        st.caption(f"Signed in as {getattr(st.user, 'email', None) or getattr(st.user, 'name', '')}")
        st.button("Sign out", on_click=st.logout, key="sign_out")
    elif how == "password" and st.session_state.get("signed_in"):
        def out():
            st.session_state.pop("signed_in", None)
        st.button("Sign out", on_click=out, key="sign_out")
