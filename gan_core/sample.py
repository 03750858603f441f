"""`python -m gan_core.sample`: the entry point; the tool itself is gan_core/cli/sample.py."""
from .cli.sample import main

if __name__ == "__main__":
    from .cli.common import run_main
    run_main(main)
