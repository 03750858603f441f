"""The app's words in the reader's language: English in the code, every other language in a gettext catalog.

    from explorer.i18n import N_, t, tn
    st.header(t("Model"))
    st.caption(t("Real data: **{value}**.", value=real))   # str.format fields: a translation may reorder them
    st.caption(tn("{n:,} epoch", "{n:,} epochs", n))       # plural forms; n is passed as a field too
    LABELS = {"lerp": N_("Linear (lerp)")}                 # marked where defined, translated where shown: t(LABELS[k])

Every message is a str.format template in English (its gettext msgid), written literally inside
t(), tn() or N_() so that Babel finds it (babel.cfg; README, "How to add a translation"). A
widget's options are translated before the widget is drawn (`format_func=shown.__getitem__`),
never inside its format_func, which may run outside the script run (AppTest calls it), where
t() answers in English. Each other language is one catalog,
explorer/locale/LANG/LC_MESSAGES/explorer.po; a language is offered as soon as its catalog
exists. Messages from gan_core (its errors) are the library's English: pages put them inside a
translated sentence.

Which language a page speaks (language()): `?lang=ko` or `?lang=en` in the URL, else the sidebar
switch, else the browser's language (st.context.locale), else English. A language chosen by
link or switch is kept in session state and written back to the URL on every script run
(remember_language, from app.py), because Streamlit clears the query parameters when the user
moves to another page; so the URL always says the language, and a copied link keeps it.

The .po files are read as they are, with Babel, once per language per server (st.cache_resource),
rather than compiled to .mo files for the stdlib's gettext: a compiled file is a second copy
that goes stale whenever someone edits the .po and forgets to recompile, and there is no build
step here to do it. Babel is needed anyway to extract and check the messages, and reading the
Korean catalog takes about 0.1 s, once per server. As msgfmt would, empty and fuzzy entries are
left out, so they show in English. The translate functions are not named `_`: pages use `_` for
values they ignore (`name, _ = ...`), which would shadow it.
"""
from __future__ import annotations

import gettext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

SOURCE = "en"                        # the language of the msgids
DOMAIN = "explorer"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
PARAM = "lang"                       # ?lang=ko
CHOICE = "i18n.lang"                 # session state: the language picked by link or switch
SWITCH = "i18n.switch"               # the sidebar switch's widget key


def N_(msgid: str) -> str:
    """Mark a message for extraction where it is defined (a table); translate it with t() where it is shown."""
    return msgid


@dataclass(frozen=True)
class Catalog:
    messages: dict[str, str | tuple[str, ...]]   # msgid (the singular, for plurals) -> translation or plural forms
    plural: Callable[[int], int]                  # n -> index of the plural form


@st.cache_resource(show_spinner=False)
def languages() -> tuple[str, ...]:
    """English, then every language with a catalog in explorer/locale/."""
    found = sorted(p.parents[1].name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE, *(lang for lang in found if lang != SOURCE))


@st.cache_resource(show_spinner=False)
def catalog(lang: str) -> Catalog:
    """One language's .po, read once per server; only complete, non-fuzzy entries."""
    from babel.messages.pofile import read_po

    with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as f:
        po = read_po(f, locale=lang, domain=DOMAIN)
    messages: dict[str, str | tuple[str, ...]] = {}
    for m in po:
        if not m.id or m.fuzzy:
            continue
        if m.pluralizable:
            if all(m.string):
                messages[m.id[0]] = tuple(m.string)
        elif m.string:
            messages[m.id] = m.string
    # The header's C expression (Korean: "0", one form), as the stdlib's gettext evaluates it.
    return Catalog(messages, gettext.c2py(po.plural_expr))


def _base(code: object) -> str | None:
    """"ko-KR", "ko_KR" or "ko" -> "ko"; anything else that is no string -> None."""
    return code.replace("_", "-").split("-")[0].lower() if isinstance(code, str) and code else None


def language() -> str:
    """The language of this script run: ?lang, else the switch, else the browser's, else English."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return SOURCE   # not drawing a page (a figure built in a test, a worker thread)
    known = languages()
    for asked in (st.query_params.get(PARAM), st.session_state.get(CHOICE), st.context.locale):
        lang = _base(asked)
        if lang in known:
            return lang
    return SOURCE


def _format(text: str, source: str, fields: dict) -> str:
    try:
        return text.format(**fields)
    except (KeyError, IndexError, ValueError):
        return source.format(**fields)   # a translation with a broken field shows the English, not an error


def t(msgid: str, **fields) -> str:
    """msgid in this run's language, with {fields} filled in by str.format."""
    lang = language()
    text = msgid if lang == SOURCE else catalog(lang).messages.get(msgid, msgid)
    return _format(text if isinstance(text, str) else msgid, msgid, fields)


def tn(singular: str, plural: str, n: int, **fields) -> str:
    """The form of singular/plural that n takes in this run's language; n is a field too."""
    fields = {"n": n, **fields}
    source = singular if n == 1 else plural
    lang = language()
    if lang != SOURCE:
        cat = catalog(lang)
        forms = cat.messages.get(singular)
        if isinstance(forms, tuple):
            return _format(forms[min(cat.plural(n), len(forms) - 1)], source, fields)
    return _format(source, source, fields)


def language_name(lang: str) -> str:
    """A language named in itself ("English", "한국어"), so that a reader finds theirs whatever the page speaks."""
    from babel import Locale

    name = Locale.parse(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:]


# ---- keeping the choice, and the switch (app.py calls both on every script run) --------------

def remember_language() -> None:
    """Before any page draws: a language asked for by the URL becomes the session's, and the URL keeps saying it.

    Streamlit clears the query parameters when the user moves to another page, so a language
    chosen by link or switch is written back to the URL on every run.
    """
    asked = _base(st.query_params.get(PARAM))
    if asked in languages():
        st.session_state[CHOICE] = asked
    chosen = st.session_state.get(CHOICE)
    if chosen and st.query_params.get(PARAM) != chosen:
        st.query_params[PARAM] = chosen


def _switched() -> None:
    # The URL must follow the switch, since ?lang beats it.
    st.session_state[CHOICE] = st.query_params[PARAM] = st.session_state[SWITCH]


def language_switch() -> None:
    """Sidebar: English / 한국어 / ..., each named in its own language."""
    st.session_state[SWITCH] = language()   # what the page speaks, however it was chosen
    st.sidebar.segmented_control(t("Language"), languages(), format_func=language_name, key=SWITCH,
                                 required=True, on_change=_switched)
