"""`python -m gan_core.project`: the entry point; the tool itself is gan_core/cli/project.py."""
from .cli.project import main

if __name__ == "__main__":
    from .cli.common import run_main
    run_main(main)
