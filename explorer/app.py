"""GAN Explorer: train chapter 14's GAN live, explore its latent space, interpolate between faces of fashion.

    streamlit run explorer/app.py

Pages live in views/; settings (runs folder, how many runs may train at once)
come from environment variables, see explorer/env.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

# Streamlit puts only this folder on sys.path. The repo root makes `explorer` importable as a
# package, and gan_core too when the project was not `pip install -e .`-ed.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from explorer.widgets import model_sources  # noqa: E402

st.set_page_config(page_title="GAN Explorer", page_icon=":material/checkroom:", layout="wide")

# A fresh install has no model: open on the page that makes one.
has_model = bool(model_sources())
page = st.navigation([
    st.Page("views/train.py", title="Train", icon=":material/model_training:", url_path="train",
            default=not has_model),
    st.Page("views/latent.py", title="Latent space", icon=":material/tune:", url_path="latent", default=has_model),
    st.Page("views/interpolate.py", title="Interpolate", icon=":material/linear_scale:", url_path="interpolate"),
])
page.run()
