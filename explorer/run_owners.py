"""Who may control a run on a shared server: the browser that started it, and the teacher.

A browser's owner key is a random secret kept in a cookie (set by a two-line script the first time, read
back through st.context.cookies after a reload), so the owner is still the owner after a reload, when
Streamlit's session is a new one. Runs keep only the key's hash (explorer/run_manager.py, RUN/controller.json).
The key never goes into a URL: links are shared. A teacher is a session opened once with
?token=GAN_EXPLORER_TEACHER_TOKEN; the token is taken out of the URL as soon as it is read, so it does not
travel on in links, and compared in constant time.
"""
from __future__ import annotations

import hmac
import os
import re
import secrets

import streamlit as st

from .i18n import t

OWNER_COOKIE = "gan_explorer_owner"
TEACHER_ENV = "GAN_EXPLORER_TEACHER_TOKEN"
TOKEN_PARAM = "token"
KEY_RE = re.compile(r"[0-9a-f]{32}")
KEY_STATE, TEACHER_STATE = "owner.key", "owner.teacher"
COOKIE_DAYS = 365


def teacher_token() -> str:
    return os.environ.get(TEACHER_ENV, "").strip()


def owner_key() -> str:
    """This browser's owner key: its cookie's, or a new one (keep_owner_cookie stores it)."""
    if KEY_STATE not in st.session_state:
        cookie = st.context.cookies.get(OWNER_COOKIE)
        ok = isinstance(cookie, str) and KEY_RE.fullmatch(cookie)
        st.session_state[KEY_STATE] = cookie if ok else secrets.token_hex(16)
    return st.session_state[KEY_STATE]


def keep_owner_cookie() -> None:
    """Until a reload sends the owner key back in a cookie, a two-line script writes it into one (once per
    script run, outside fragments)."""
    key = owner_key()
    if st.context.cookies.get(OWNER_COOKIE) != key:
        st.html(f"<script>document.cookie = '{OWNER_COOKIE}={key}; path=/; max-age={COOKIE_DAYS * 86400}; "
                f"SameSite=Strict';</script>", unsafe_allow_javascript=True)


def read_teacher_token() -> None:
    """If the URL carries ?token=, take it out and, when it is the server's, make this session the teacher's."""
    given = st.query_params.get(TOKEN_PARAM)
    if given is None:
        return
    del st.query_params[TOKEN_PARAM]
    expected = teacher_token()
    ok = bool(expected) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
    st.session_state[TEACHER_STATE] = ok
    if not ok:
        st.toast(t("That link's teacher token is not this server's: you can control only the runs you start."),
                 icon=":material/lock:")


def is_teacher() -> bool:
    return bool(st.session_state.get(TEACHER_STATE)) and bool(teacher_token())
