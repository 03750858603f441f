"""The command-line tools. Run them as `python -m gan_core.train` (or .sample, .interpolate,
.evaluate, .classifier, .project): those entry modules hand over to the `main` of the file
of the same name here, and `common.py` holds what the tools share."""
