"""GAN Explorer's Streamlit app: train the book's GAN live, walk its latent space, interpolate.

    streamlit run explorer/app.py

app.py is the entry point; views/ holds one thin script per page. The modules
the pages share:
    run_manager.py       training runs as child processes, queued (never touches Streamlit)
    run_backends.py      where a run's trainer runs: a child of this server, or (ray_backend.py) a Ray cluster
    disk_trouble.py      what to say when the runs folder's disk refuses a write
    run_curves.py        a run's live numbers, read incrementally (never touches Streamlit)
    resources.py         what the whole server shares: the run manager, each run's curves
    run_names.py         what a run is called: its given title, or a default from its settings
    model_picker.py      which generators can be explored, loaded once, and the sidebar picker
    training_form.py     the Train page's presets and settings
    lesson_runs.py       the runs shipped ready to show (checkpoints/lessons/), and what each shows
    timeline_sources.py  the snapshots a Timeline shows
    evaluations.py       the Quality page's numbers, computed once per server
    latent_tools.py      the latent pages' directions, labels, steering and projections, kept per model
    live_generator.py    G run in the browser: sliders, walks and the map drawn as the mouse moves (.js, .css)
    charts.py            every Plotly figure
    env.py               settings from GAN_EXPLORER_* environment variables
    i18n.py              t(): every text in the reader's language (catalogs in locale/)
"""
