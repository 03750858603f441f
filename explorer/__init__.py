"""GAN Explorer's Streamlit app: train the book's GAN live, walk its latent space, interpolate.

    streamlit run explorer/app.py

app.py is the entry point; views/ holds one thin script per page; the other
modules are plain Python the pages share (runner.py and metrics.py never touch
Streamlit, so worker threads and tests can use them freely).
"""
