"""`python -m gan_core.evaluate`: the entry point; the tool itself is gan_core/cli/evaluate.py."""
from .cli.evaluate import main

if __name__ == "__main__":
    from .cli.common import run_main
    run_main(main)
