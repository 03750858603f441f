"""GAN Explorer: train chapter 14's GAN live, explore its latent space, interpolate between its images.

    streamlit run explorer/app.py        # from the repository root, so .streamlit/config.toml applies

Pages live in views/; where runs are kept and how many may train at once come
from environment variables (explorer/env.py).
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path

# Streamlit puts only this folder on sys.path. The repo root makes `explorer` importable as a
# package, and gan_core too when the project was not `pip install -e .`-ed.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402
import torch  # noqa: E402

from explorer import charts, resources, run_owners  # noqa: E402,F401  (charts: plotly imported before the freeze below)
from explorer.env import EnvError  # noqa: E402
from explorer.i18n import language_switch, remember_language, t  # noqa: E402
from explorer.presenter import presenter_switch, remember_presenter, sidebar_state  # noqa: E402
from explorer.plain import plain  # noqa: E402

# The server decodes one z (or a few dozen) at a time: a second intra-op thread only adds
# hand-offs, which on two busy cores made a slider's picture several times slower.
# Training happens in child processes, which set their own threads.
torch.set_num_threads(1)

remember_presenter()   # ?present=1, kept across pages as ?lang is (explorer/presenter.py); decides the sidebar's state
st.set_page_config(page_title="GAN Explorer", page_icon=":material/checkroom:", layout="wide",
                   initial_sidebar_state=sidebar_state())
# Images are sent at whole-number enlargements; should the browser still rescale one (a narrow
# window), keep G's pixels square rather than smoothed.
st.html("<style>[data-testid=stImage] img {image-rendering: pixelated;}</style>")
remember_language()   # before anything is said: the URL's ?lang, kept across pages (explorer/i18n.py)
run_owners.read_teacher_token()   # on every page, so a teacher's ?token= never stays in a URL to be shared

# A new visitor starts with the lesson: "/" (the default page, whose own url_path Streamlit
# ignores) sends them on to /lesson, keeping the URL's parameters. So every page, the lesson
# included, has an address of its own that never changes with what is installed: links to
# /lesson, /latent, /train and /interpolate keep working. Without a model each page says how to get one.
try:
    resources.manager()  # reads the GAN_EXPLORER_* settings: a bad one stops here, said in one line
except EnvError as e:
    st.error(t("GAN Explorer cannot start: {reason}", reason=plain(e)))
    st.stop()

language_switch()
presenter_switch()
# Titles are translated; URL paths are not, so a link works in every language.
lesson = st.Page("views/lesson.py", title=t("Lesson"), icon=":material/school:", url_path="lesson")


def _welcome() -> None:
    st.switch_page(lesson, query_params=st.query_params.to_dict())


# The sidebar's pages, in order: one line a page.
PAGES = [
    st.Page(_welcome, title="GAN Explorer", url_path="welcome", default=True, visibility="hidden"),
    lesson,
    st.Page("views/latent.py", title=t("Latent space"), icon=":material/tune:", url_path="latent"),
    st.Page("views/train.py", title=t("Train"), icon=":material/model_training:", url_path="train"),
    st.Page("views/interpolate.py", title=t("Interpolate"), icon=":material/linear_scale:", url_path="interpolate"),
    st.Page("views/project.py", title=t("Project an image"), icon=":material/center_focus_strong:", url_path="project"),
    st.Page("views/timeline.py", title=t("Timeline"), icon=":material/timeline:", url_path="timeline"),
    st.Page("views/quality.py", title=t("Quality"), icon=":material/analytics:", url_path="quality"),
    st.Page("views/compare.py", title=t("Compare"), icon=":material/compare:", url_path="compare"),
    st.Page("views/architectures.py", title=t("Architectures"), icon=":material/view_column:", url_path="architectures"),
]
page = st.navigation(PAGES)
page.run()


@st.cache_resource(show_spinner=False)
def _freeze_what_startup_made() -> None:
    """Once per server, after the first page has run: move every object alive now out of the GC's sight.

    torch, plotly and Streamlit leave about 240,000 long-lived objects. Each full collection
    walked them all (a tenth of a second, holding the GIL, so every session's page waited),
    and eight busy sessions trigger one every few seconds. Frozen, a collection takes microseconds.
    """
    gc.freeze()


_freeze_what_startup_made()
