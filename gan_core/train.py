"""`python -m gan_core.train`: the entry point; the tool itself is gan_core/cli/train.py."""
from .cli.train import main

if __name__ == "__main__":
    from .cli.common import run_main
    run_main(main)
