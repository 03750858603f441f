"""Pages this branch adds that explorer/app.py does not list yet, added to its navigation for the tests.

AppTest runs the app in this process: `install()` wraps st.navigation so that app.py's list
gains these pages. A real server (tests/test_latent_page.py's browser tests) imports
tests/with_new_pages/sitecustomize.py, which does the same, by PYTHONPATH. Once app.py lists
a page itself, nothing is added for it; once it lists them all, this module can go.
"""
from __future__ import annotations

# (script, title, icon, url path): the lines app.py is to gain.
PAGES = [("views/project.py", "Project an image", ":material/center_focus_strong:", "project")]


def install(monkeypatch=None) -> None:
    """Wrap st.navigation (through pytest's monkeypatch when given, so that it is undone after the test)."""
    import streamlit as st

    if getattr(st.navigation, "adds_new_pages", False):
        return
    original = st.navigation

    def navigation(pages, **kwargs):
        from explorer.i18n import t
        listed = [str(getattr(p, "_page", "")) for p in pages]
        extra = [st.Page(script, title=t(title), icon=icon, url_path=url)
                 for script, title, icon, url in PAGES if not any(s.endswith(script) for s in listed)]
        return original([*pages, *extra], **kwargs)

    navigation.adds_new_pages = True
    if monkeypatch is None:
        st.navigation = navigation
    else:
        monkeypatch.setattr(st, "navigation", navigation)
