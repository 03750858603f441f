"""`python -m gan_core.classifier`: the entry point; the tool itself is gan_core/cli/classifier.py
(the classifier is gan_core/fashion_classifier.py)."""
from .cli.classifier import main

if __name__ == "__main__":
    from .cli.common import run_main
    run_main(main)
