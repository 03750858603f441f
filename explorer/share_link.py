"""Shareable links: a page's state kept in its URL, read back when someone opens the link, and a Share button.

    asked = share_link.from_link("latent", ("seed", "d", "z"))   # what a link asks for, not what this session wrote
    ...
    share_link.keep("latent", {"model": ..., "seed": "7", "d": "0.5,0,-1"})   # the address bar now says the state
    share_link.share_button()                        # near the page's title

Each page writes its state to the URL on every run (Streamlit clears the query parameters when the
user moves to another page, so they cannot be set once). A value in the URL that differs from what
this session last wrote there came from outside: a link opened, or a link from the Lesson page. A
value that cannot be used is named in one line, and the page goes on with its own.

z that no seed gives (a steered or projected z) travels as its 32-bit floats in URL-safe base64:
G reads float32, so that is the picture exactly.
"""
from __future__ import annotations

import base64
import html
import json
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from .i18n import t
from .plain import plain
from .presenter import PARAM as PRESENT_PARAM

MODEL = "model"
SEED_MAX = 2**31 - 1


def _written(page: str) -> dict[str, str]:
    return st.session_state.get(f"share.{page}", {})


def _notes(page: str) -> list[str]:
    """What was said about the last link's values, kept until the page's state changes: a page that reruns
    by itself right after opening (the Latent page names its directions once) must not lose it."""
    return st.session_state.setdefault(f"share.notes.{page}", [])


def from_link(page: str, names: tuple[str, ...]) -> dict[str, str]:
    """The URL's values among names that this session did not write itself there: a link asks for them.

    Call it once per name and run, before the page's widgets; it also repeats what was said about
    values this page ignored.
    """
    written = _written(page)
    asked = {n: st.query_params[n] for n in names if n in st.query_params and st.query_params[n] != written.get(n)}
    st.session_state["share.page"] = page
    read = st.session_state.setdefault(f"share.names.{page}", set())
    read.update(names)
    for name, text in _notes(page):
        if name in names and name not in asked:
            _warn(text)
    return asked


def _warn(text: str) -> None:
    st.warning(text, icon=":material/link_off:")


def _say(name: str, text: str) -> None:
    """One line about the link's value of name, now and on the page's next runs until its state changes."""
    notes = _notes(st.session_state.get("share.page", ""))
    notes[:] = [n for n in notes if n[0] != name] + [(name, text)]
    _warn(text)


def keep(page: str, values: dict[str, str]) -> None:
    """Write the page's state to the URL (only what changed), so that the address bar is a link to what it shows."""
    if _written(page) and _written(page) != values:
        _notes(page).clear()   # the page has moved on from what the link asked for
    for n in _written(page).keys() | st.session_state.get(f"share.names.{page}", set()):
        if n not in values and n in st.query_params:   # a value the page no longer needs, or one it ignored
            del st.query_params[n]
    for n, v in values.items():
        if st.query_params.get(n) != v:
            st.query_params[n] = v
    st.session_state[f"share.{page}"] = dict(values)


def ignored(name: str, value: str, expected: str) -> None:
    """One line: the link's value that cannot be used, and what would have been."""
    _say(name, t("The link's {name}={value} was ignored: {expected}.", name=name, value=plain(value, 60),
                 expected=expected))


# ---- values ------------------------------------------------------------------------------

def seed_value(name: str, value: str) -> int | None:
    """A seed from the link, or None after saying why not."""
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if 0 <= seed <= SEED_MAX:
        return seed
    ignored(name, value, t("a seed is a whole number from 0 to {top:,}", top=SEED_MAX))
    return None


def int_value(name: str, value: str, lo: int, hi: int) -> int | None:
    try:
        n = int(value)
    except ValueError:
        n = lo - 1
    if lo <= n <= hi:
        return n
    ignored(name, value, t("a whole number from {lo} to {hi}", lo=lo, hi=hi))
    return None


def z_text(z) -> str:
    """z as the URL carries it: its float32 bytes, little-endian, in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(np.asarray(z, dtype="<f4").tobytes()).decode().rstrip("=")


def z_value(name: str, value: str, dim: int) -> list[float] | None:
    """A z of dim numbers from the link, or None after saying why not."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        z = np.frombuffer(raw, dtype="<f4") if len(raw) == 4 * dim else None
    except ValueError:
        z = None
    if z is not None and np.isfinite(z).all():
        return z.astype(np.float32).tolist()
    ignored(name, value[:24] + ("…" if len(value) > 24 else ""), t("a z of {dim} numbers, as this page writes it",
                                                                   dim=dim))
    return None


def amounts_text(amounts: list[float]) -> str:
    """Slider values, comma-separated, without the zeros at the end ("" when all are 0)."""
    shown = [f"{a:g}" for a in amounts]
    while shown and float(shown[-1]) == 0:
        shown.pop()
    return ",".join(shown)


def amounts_value(name: str, value: str, k: int, span: float) -> list[float] | None:
    """k slider values from the link (missing ones 0), each within ±span; or None after saying why not."""
    try:
        got = [round(float(v), 2) for v in value.split(",")] if value else []
    except ValueError:
        got = None
    if got is not None and len(got) <= k and all(abs(a) <= span for a in got):
        return got + [0.0] * (k - len(got))
    ignored(name, value, t("at most {k} numbers from {lo:g} to {hi:g}, separated by commas", k=k, lo=-span,
                           hi=span))
    return None


def choice_value(name: str, value: str, options: dict[str, str]) -> str | None:
    """One of options' keys (shown by their words), or None after saying why not."""
    if value in options:
        return value
    ignored(name, value, t("one of {options}", options=", ".join(options)))
    return None


# ---- the model ---------------------------------------------------------------------------

def unknown_model(asked: str) -> None:
    _say(MODEL, t("The link's model {model} is not on this server: showing another one.", model=plain(asked, 80)))


def model_param() -> dict[str, str]:
    """The picked model as the URL names it."""
    key = st.session_state.get("model.source")
    return {MODEL: key} if key else {}


# ---- the Share button --------------------------------------------------------------------

def page_url() -> str:
    """This page's address with its state (and ?lang), as far as the server knows it; no ?present."""
    base = (st.context.url or "").split("?")[0]
    params = {k: v for k, v in st.query_params.to_dict().items() if k != PRESENT_PARAM}
    return base + ("?" + urlencode(params) if params else "")


_COPY = """<div id="{id}" class="share-link" style="display:flex;flex-direction:column;gap:0.5rem">
<input readonly aria-label="{label}" value="{url}" style="width:100%;font-family:monospace;font-size:0.85rem;
 padding:0.4rem;border:1px solid rgba(49,51,63,0.3);border-radius:0.4rem" onfocus="this.select()">
<button type="button" style="padding:0.4rem 0.8rem;border-radius:0.5rem;border:1px solid rgba(49,51,63,0.3);
 background:white;cursor:pointer;font-size:1rem">{copy}</button>
<span role="status" style="font-size:0.85rem;min-height:1.2em"></span></div>
<script>(() => {{
  const box = document.getElementById({id_js});
  if (!box) return;
  const field = box.querySelector('input'), status = box.querySelector('[role=status]');
  // The address bar is the link: fragments update it after the server wrote the text above.
  const now = () => {{ const u = new URL(window.location.href); u.searchParams.delete('{present}'); return u.href; }};
  field.value = now();
  box.querySelector('button').addEventListener('click', async () => {{
    field.value = now();
    try {{ await navigator.clipboard.writeText(field.value); }}
    catch (e) {{ field.focus(); field.select(); document.execCommand('copy'); }}
    status.textContent = {copied};
  }});
}})();</script>"""


def title(text: str) -> None:
    """The page's title with the Share button beside it, where a teacher looks for it."""
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        st.title(text, width="content")
        share_button()


def share_button() -> None:
    """A Share button near the page's title: the link to what the page shows, a button to copy it, the text itself."""
    with st.popover(t("Share"), icon=":material/link:"):
        st.caption(t("This link opens the page as it is now, on this server, in any browser."))
        box = "share-link"
        st.html(_COPY.format(id=box, id_js=json.dumps(box), label=html.escape(t("Link to this page")),
                             url=html.escape(page_url()), copy=html.escape(t("Copy link")),
                             copied=json.dumps(t("Copied. Paste it anywhere.")), present=PRESENT_PARAM),
                unsafe_allow_javascript=True)
