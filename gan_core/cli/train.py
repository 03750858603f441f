"""Train the book's GAN on Fashion-MNIST.

    python -m gan_core.train --epochs 500 --out runs/book          # the book's recipe
    python -m gan_core.train --epochs 1 --out runs/try --device cpu
    python -m gan_core.train --out runs/book --resume                # continue after a stop or crash
    python -m gan_core.train --arch dcgan --epochs 5 --out runs/dcgan  # the convolutional pair (gan_core/dcgan.py)

Prints the book's line each epoch and, at the end, a summary with images/s=.
Writes RUN/checkpoint.pt every epoch (atomically), RUN/history.csv, RUN/status.json
and the fixed-z sample grid; see gan_core/run_folder.py for the folder layout.
A run's settings live in RUN/settings.json: a folder prepared with them (as the
app does) trains with them, flags given here override them, and --resume keeps them.
SIGTERM stops the run between two steps and marks it "stopped"; --resume continues it
from its last finished epoch. A run folder growing past its disk budget (--disk-budget-mb,
kept in settings.json) stops the same way, with a message saying so. One trainer at a
time may write a run folder, and a new run never overwrites an old one's checkpoint.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import signal
import sys
import threading

import torch

from ..checkpoints import Checkpoint, CheckpointError, load_checkpoint
from ..config import ARCHS, G_LOSSES, ConfigError, GANConfig, arch_recipe
from ..data import load_fashion_mnist
from ..device import resolve_device
from ..precision import PRECISIONS, check_precision
from ..run_folder import DISK_BUDGET_MB, Recording, RunFolder
from ..trainer import HALVES, TrainControl, Trainer, TrainingDiverged
from .common import Parser
from .recorder import Recorder

RECIPE_FLAGS = ("epochs", "batch_size", "lr_g", "lr_d", "seed", "d_steps", "g_loss", "arch")


def parse_args(argv: list[str] | None):
    d = GANConfig()
    p = Parser(prog="python -m gan_core.train", description=__doc__.splitlines()[0])
    # None = not given: the run folder's settings (or the book's) apply.
    p.add_argument("--epochs", type=int, default=None, help=f"total epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=None, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate of both G and D (default {d.lr_g}; 0 freezes)")
    p.add_argument("--lr-g", type=float, default=None, help="learning rate of G (overrides --lr; 0 freezes G)")
    p.add_argument("--lr-d", type=float, default=None, help="learning rate of D (overrides --lr; 0 freezes D)")
    p.add_argument("--d-steps", type=int, default=None, metavar="K",
                   help=f"D updates per G update, 1 to 5, each on the next batch and a fresh z (default {d.d_steps})")
    p.add_argument("--g-loss", choices=G_LOSSES, default=None,
                   help="G's loss: book = BCE(D(G(z)), 1), minimax = log(1 - D(G(z))) as in the GAN paper "
                        f"(default {d.g_loss})")
    p.add_argument("--seed", type=int, default=None, help=f"seed for weights, data order and z (default {d.seed})")
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help=f"the networks: mlp = the book's, dcgan = convolutional, trained with the DCGAN paper's "
                        f"Adam beta1 0.5 (default {d.arch})")
    p.add_argument("--data-dir", default=None, help="folder holding Fashion-MNIST's idx files")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if available)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="fp32 (the book's) or bf16: the matrix products in bfloat16, weights and Adam in float32; "
                        "only on CPUs with AVX512-BF16 or AMX and on CUDA (default: the run folder's, else fp32)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    p.add_argument("--snapshot-epochs", default=None,
                   help="comma-separated epochs (1-based) at which to keep a float16 G snapshot, or 'log' "
                        "for 1,2,3,5,10,20,... and the last")
    p.add_argument("--sample-every", type=int, default=None, help="also refresh the sample grid every N steps")
    p.add_argument("--events", action="store_true",
                   help="log per-step values to OUT/events.jsonl (each step while the run is short, then bucket means)")
    p.add_argument("--disk-budget-mb", type=int, default=None, metavar="MB",
                   help=f"stop the run when OUT holds more than this (default {DISK_BUDGET_MB}; 0: no limit)")
    p.add_argument("--control", choices=["none", "stdin"], default="none",
                   help="stdin: obey pause/resume/step/step d/step g/stop lines; end of input stops the run")
    p.add_argument("--yield-to", default=None, metavar="FILE",
                   help="pause between steps while FILE was touched in the last 0.15 s (see gan_core.courtesy)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("lr_g", "lr_d"):   # --lr sets both unless one is given on its own
        if getattr(args, name) is None:
            setattr(args, name, args.lr)
    return args


def snapshot_recording(text: str, recording: Recording) -> Recording:
    """The recording with --snapshot-epochs' snapshots: a list of epochs, or log-spaced ones."""
    if text.strip() == "log":
        return dataclasses.replace(recording, snapshot_epochs=(), snapshot_log=True)
    try:
        epochs = tuple(sorted({int(t) for t in text.split(",") if t.strip()}))
        return dataclasses.replace(recording, snapshot_epochs=epochs, snapshot_log=False)
    except ValueError:
        raise ConfigError(f"--snapshot-epochs must be comma-separated integers or 'log', got {text[:40]!r}") from None


def settings(args, run: RunFolder, ck: Checkpoint | None) -> tuple[GANConfig, Recording]:
    """The run's config and recording: the folder's settings (or the book's), a checkpoint's recipe, then flags."""
    stored = run.read_settings()
    cfg, recording = stored or (GANConfig(), Recording())
    asked = {k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k) is not None}
    if ck is not None:
        # A resumed run keeps its recipe; saying otherwise would be silently ignored, so refuse it.
        cfg = ck.config
        for name, value in asked.items():
            if name != "epochs" and value != getattr(cfg, name):
                raise ConfigError(f"--{name.replace('_', '-')} {value} differs from the checkpoint's "
                                  f"{getattr(cfg, name)}; a resumed run keeps its settings (only --epochs may change)")
    if "arch" in asked and ck is None:
        cfg = cfg.replace(**arch_recipe(asked["arch"]))   # the architecture brings its reference's optimiser settings
    cfg = cfg.replace(**asked).validate()
    if args.sample_every is not None:
        recording = dataclasses.replace(recording, sample_every=args.sample_every)
    if args.snapshot_epochs is not None:
        recording = snapshot_recording(args.snapshot_epochs, recording)
    if args.disk_budget_mb is not None:
        recording = dataclasses.replace(recording, disk_budget_mb=args.disk_budget_mb)
    if args.precision is not None:
        recording = dataclasses.replace(recording, precision=args.precision)
    return cfg, recording.validate()


def listen(control: TrainControl, on_change, on_threads=None) -> None:
    """Obey control lines on stdin; EOF (the parent went away) stops the run.

    While paused, "step" (or "step both") does one step, "step d" only D's update, "step g" only G's.
    "threads N" asks for N CPU threads from the next step on (the app gives a run training alone the whole machine)."""
    actions = {"pause": control.pause, "resume": control.resume, "stop": control.stop, "step": control.step_once,
               **{f"step {kind}": (lambda kind=kind: control.step_once(kind)) for kind in HALVES}}
    for line in sys.stdin:
        words = line.split()
        if on_threads and len(words) == 2 and words[0] == "threads" and words[1].isdigit():
            on_threads(int(words[1]))
            continue
        act = actions.get(line.strip())
        if act:
            act()
            on_change()  # a paused trainer waits before its next step: say so now, not after it
    control.stop()


def lock_run_folder(run: RunFolder) -> int:
    """Lock the run folder until the returned descriptor is closed; the kernel drops the lock if we die."""
    fd = os.open(run.train_lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"{run.path} is being trained by another process; wait for it or choose another --out") from None
    return fd


def checkpoint_to_resume(run: RunFolder) -> Checkpoint:
    if not run.checkpoint.is_file():
        raise CheckpointError(f"{run.checkpoint}: nothing to resume (no checkpoint yet)")
    ck = load_checkpoint(run.checkpoint)
    if ck.state is None:
        raise CheckpointError(f"{run.checkpoint}: holds no optimiser state, cannot resume")
    return ck


def prepare(args, lock: list[int]) -> tuple[RunFolder, Trainer, Recording]:
    """Check the request, take the run folder (its lock's descriptor goes into `lock`), build the trainer."""
    if args.threads is not None:
        if not 1 <= args.threads <= 256:
            raise ConfigError(f"--threads must be between 1 and 256, got {args.threads}")
        torch.set_num_threads(args.threads)
    # Late in training Adam's second moments decay into denormal floats, which CPUs
    # handle 5-50x slower; flushing them to zero changes no result that matters.
    torch.set_flush_denormal(True)
    run = RunFolder(args.out)
    device = resolve_device(args.device)
    ck = checkpoint_to_resume(run) if args.resume else None
    cfg, recording = settings(args, run, ck)
    check_precision(recording.precision, device, cfg.arch)   # refused before anything is written
    run.path.mkdir(parents=True, exist_ok=True)
    lock.append(lock_run_folder(run))
    if args.resume:
        run.recover()  # safe under the lock: no other writer is using what it tidies
    elif run.checkpoint.exists():
        raise ConfigError(f"{run.path} already holds a run (checkpoint.pt); continue it with --resume or choose another --out")
    run.write_settings(cfg, recording)
    images, _ = load_fashion_mnist(True, args.data_dir, device)
    trainer = Trainer(cfg, images, device, recording.precision)
    if ck is not None:
        try:
            trainer.load_state_dict(ck.state)
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{run.checkpoint}: training state does not fit the model ({str(e).splitlines()[0][:160]})") from None
        print(f"resuming from epoch {trainer.epoch} (step {trainer.step}) of {cfg.epochs}", flush=True)
    # Steps logged after the checkpoint (or, in a new run, before any) are about to be redone: drop them,
    # so the log has each step once. This also brings a log from before bucketing into the bounded format.
    run.trim_events(trainer.step)
    for net, lr in (("G", cfg.lr_g), ("D", cfg.lr_d)):
        if lr == 0:
            print(f"{net} is frozen (lr_{net.lower()} 0): its weights will not change", flush=True)
    return run, trainer, recording


def main(argv: list[str] | None = None) -> int:
    lock: list[int] = []
    try:
        return train(parse_args(argv), lock)
    finally:
        for fd in lock:
            os.close(fd)


def train(args, lock: list[int]) -> int:
    run, trainer, recording = prepare(args, lock)
    control = TrainControl()
    if threading.current_thread() is threading.main_thread():
        # `kill` or a job scheduler's stop: finish the current step, record "stopped", exit normally.
        signal.signal(signal.SIGTERM, lambda signum, frame: control.stop())
    rec = Recorder(run, trainer, control, recording, log_events=args.events, quiet=args.quiet, yield_to=args.yield_to)
    rec.status("running")
    if args.control == "stdin":
        threading.Thread(target=listen, args=(control, lambda: rec.status("running"), rec.use_threads),
                         daemon=True).start()
    if trainer.epoch == 0 and not args.resume:
        rec.samples(None)
    try:
        for ev in trainer.run(control):
            rec.event(ev)
    except TrainingDiverged as e:
        kept = (f"the last finite checkpoint (epoch {trainer.epoch}) is kept" if run.checkpoint.is_file()
                else "no checkpoint had been written yet")
        rec.flush()
        rec.status("diverged", f"{e}; {kept}")
        raise
    except KeyboardInterrupt:
        rec.status("stopped", f"interrupted at epoch {trainer.epoch}; --resume continues from the last checkpoint")
        raise
    except BaseException as e:
        rec.status("failed", str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise
    finally:
        rec.close()
    rec.flush()
    outcome = "finished" if trainer.epoch >= trainer.cfg.epochs else "stopped"
    message = ("" if outcome == "finished"
               else rec.stop_reason or f"stopped at epoch {trainer.epoch}, step {trainer.step}")
    if message and rec.stop_reason:
        print(message, flush=True)   # the one stop a user did not ask for: say why on the console too
    rec.status(outcome, message)
    print(f"{outcome}: epochs={trainer.epoch}/{trainer.cfg.epochs} steps={trainer.step} device={trainer.device.type} "
          f"train_seconds={rec.train_seconds:.1f} images/s={rec.images_per_sec:.0f} checkpoint={run.checkpoint}")
    return 0
