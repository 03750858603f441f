"""Presenter mode: the app on a classroom projector (1024x768 or 1280x720), read from the back of the room.

    ?present=1          in any page's URL, or the sidebar's switch

On: the sidebar starts collapsed, type is larger, and the Latent space, Interpolate and Timeline
pages put their picture at about two thirds of the screen's height beside their main controls,
with the rest in expanders (each page asks presenting() and lays itself out). The choice is kept
as the language is (explorer/i18n.py): in session state, and written back to the URL on every
script run, because Streamlit clears the query parameters when the user moves to another page.
"""
from __future__ import annotations

import streamlit as st

from .i18n import t

PARAM = "present"                 # ?present=1
CHOICE = "presenter.on"           # session state: the mode chosen by link or switch
SWITCH = "presenter.switch"       # the sidebar switch's widget key
# The picture's height on a projector: 60% of the screen is the floor the pages promise, and
# what is left must still hold the page's title line above the picture at 1280x720.
PICTURE_VH = 62
PICTURE_KEY = "picture"           # pages wrap their main picture in st.container(key=f"{page}.picture")

# Larger type from a larger root size (Streamlit's sizes are in rem, so spacing grows with it); the
# main column's side padding shrinks so that the picture's column has room at 1024 px; each page's
# picture is sized to the screen's height, width following, never wider than its column.
_CSS = f"""<style>
html {{font-size: 19px;}}
[data-testid=stMainBlockContainer] {{padding: 4rem 1.5rem 3rem 1.5rem; max-width: 100%;}}
[data-testid=stMain] h1 {{font-size: 1.8rem; padding: 0 0 0.4rem 0;}}
[class*=st-key-][class*=-{PICTURE_KEY}] [data-testid=stImage] img {{
  height: {PICTURE_VH}vh; width: auto !important; max-width: 100%; object-fit: contain;}}
[class*=st-key-][class*=-{PICTURE_KEY}] [data-testid=stImage] {{align-items: center;}}
</style>"""


def presenting() -> bool:
    """Whether this session shows the app for a projector."""
    return bool(st.session_state.get(CHOICE, False))


def remember_presenter() -> None:
    """Before any page draws: ?present=1 / ?present=0 sets the mode, and the URL keeps saying it while it is on."""
    asked = st.query_params.get(PARAM)
    if asked in ("1", "0"):
        st.session_state[CHOICE] = asked == "1"
    if presenting():
        if st.query_params.get(PARAM) != "1":
            st.query_params[PARAM] = "1"
    elif PARAM in st.query_params:
        del st.query_params[PARAM]


def sidebar_state() -> str:
    """set_page_config's initial_sidebar_state: collapsed on a projector, Streamlit's own choice otherwise."""
    return "collapsed" if presenting() else "auto"


def _switched() -> None:
    st.session_state[CHOICE] = bool(st.session_state[SWITCH])
    if st.session_state[CHOICE]:
        st.query_params[PARAM] = "1"
    elif PARAM in st.query_params:
        del st.query_params[PARAM]


def presenter_switch() -> None:
    """Sidebar: the switch; and, while it is on, the projector's styles for every page."""
    st.session_state[SWITCH] = presenting()
    st.sidebar.toggle(t("Presenter mode"), key=SWITCH, on_change=_switched,
                      help=t("For a projector: larger type, the picture at two thirds of the screen's height, the "
                             "sidebar closed and secondary controls folded away. A link with `?present=1` opens "
                             "in it."))
    if presenting():
        st.html(_CSS)


def secondary(label: str):
    """A container for controls a projector does not need at once: an expander while presenting, else inline."""
    return st.expander(label) if presenting() else st.container()
