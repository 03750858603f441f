"""What the command-line tools share: one-line errors and common arguments."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn

from ..checkpoints import CheckpointError
from ..config import ARCHS, ConfigError
from ..data import DataNotFoundError
from ..trainer import TrainingDiverged


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument on one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> NoReturn:
    """Run a CLI main; known failures become one line on stderr and a non-zero exit, never a traceback."""
    prog = "gan_core." + main.__module__.rsplit(".", 1)[-1]   # gan_core.cli.train -> gan_core.train
    try:
        code = main(argv)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        code = 130
    except TrainingDiverged as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        code = 3
    except (ConfigError, DataNotFoundError, CheckpointError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        code = 2
    except OSError as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"{prog}: error: {e.strerror or e}{where}", file=sys.stderr)
        code = 1
    sys.exit(code or 0)


def add_checkpoint_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True,
                   help="a GAN Explorer checkpoint (.pt) or a book-style generator state_dict")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help="the architecture the checkpoint must hold (mlp or dcgan); default: whichever it holds")
