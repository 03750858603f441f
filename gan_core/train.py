"""Train the book's GAN on Fashion-MNIST.

    python -m gan_core.train --epochs 500 --out runs/book          # the book's recipe
    python -m gan_core.train --epochs 1 --out runs/try --device cpu
    python -m gan_core.train --out runs/book --resume                # continue after a stop or crash

Prints the book's line each epoch and, at the end, a summary with images/s=.
Writes RUN/checkpoint.pt every epoch (atomically), RUN/history.csv, RUN/status.json
and the fixed-z sample grid; see gan_core/runs.py for the folder layout.
SIGTERM stops the run between two steps and marks it "stopped"; --resume continues it
from its last finished epoch. One trainer at a time may write a run folder, and a new
run never overwrites an old one's checkpoint.
"""
from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
import time

import torch
from tqdm import tqdm

from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .cli import Parser, run_main
from .config import ConfigError, GANConfig
from .courtesy import Courtesy
from .data import load_fashion_mnist
from .latent import d_scores, decode, z_from_seed
from .runs import RunFolder
from .training import EpochEvent, StepEvent, TrainControl, Trainer, TrainingDiverged, resolve_device

SAMPLE_COUNT = 16  # images in the fixed-z progress grid
LOCK_FILE = ".train.lock"


def parse_args(argv: list[str] | None):
    d = GANConfig()
    p = Parser(prog="python -m gan_core.train", description=__doc__.splitlines()[0])
    # None = not given: a resumed run keeps its own total unless --epochs says otherwise.
    p.add_argument("--epochs", type=int, default=None, help=f"total epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=None, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate of both G and D (default {d.lr_g})")
    p.add_argument("--lr-g", type=float, default=None, help="learning rate of G (overrides --lr)")
    p.add_argument("--lr-d", type=float, default=None, help="learning rate of D (overrides --lr)")
    p.add_argument("--seed", type=int, default=None, help=f"seed for weights, data order and z (default {d.seed})")
    p.add_argument("--data-dir", default=None, help="folder holding Fashion-MNIST's idx files")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if available)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    p.add_argument("--snapshot-epochs", default="",
                   help="comma-separated epochs (1-based) at which to keep a float16 G snapshot")
    p.add_argument("--sample-every", type=int, default=0, help="also refresh the sample grid every N steps")
    p.add_argument("--events", action="store_true", help="append per-step values to OUT/events.jsonl")
    p.add_argument("--control", choices=["none", "stdin"], default="none",
                   help="stdin: obey pause/resume/step/stop lines; end of input stops the run")
    p.add_argument("--yield-to", default=None, metavar="FILE",
                   help="pause between steps while FILE was touched in the last 0.15 s (see gan_core.courtesy)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def parse_epochs(text: str) -> set[int]:
    try:
        return {int(t) for t in text.split(",") if t.strip()}
    except ValueError:
        raise ConfigError(f"--snapshot-epochs must be comma-separated integers, got {text!r}") from None


def listen(control: TrainControl, on_change) -> None:
    """Obey control lines on stdin; EOF (the parent went away) stops the run."""
    actions = {"pause": control.pause, "resume": control.resume, "step": control.step_once, "stop": control.stop}
    for line in sys.stdin:
        act = actions.get(line.strip())
        if act:
            act()
            on_change()  # a paused trainer waits before its next step: say so now, not after it
    control.stop()


def lock_run_folder(run: RunFolder) -> None:
    """Lock the run folder for this process's life (the descriptor is never closed); the kernel drops it if we die."""
    fd = os.open(run.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"{run.path} is being trained by another process; wait for it or choose another --out") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        if not 1 <= args.threads <= 256:
            raise ConfigError(f"--threads must be between 1 and 256, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.sample_every < 0:
        raise ConfigError(f"--sample-every must be 0 or more, got {args.sample_every}")
    # Late in training Adam's second moments decay into denormal floats, which CPUs
    # handle 5-50x slower; flushing them to zero changes no result that matters.
    torch.set_flush_denormal(True)
    run = RunFolder(args.out)
    device = resolve_device(args.device)
    snapshots = parse_epochs(args.snapshot_epochs)

    ck = None
    if args.resume:
        if not run.checkpoint.is_file():
            raise CheckpointError(f"{run.checkpoint}: nothing to resume (no checkpoint yet)")
        ck = load_checkpoint(run.checkpoint)
        if ck.state is None:
            raise CheckpointError(f"{run.checkpoint}: holds no optimiser state, cannot resume")
        # A resumed run keeps its recipe; saying otherwise would be silently ignored, so refuse it.
        pick = lambda own: own if own is not None else args.lr  # noqa: E731
        asked = {"batch_size": args.batch_size, "seed": args.seed, "lr_g": pick(args.lr_g), "lr_d": pick(args.lr_d)}
        for name, value in asked.items():
            if value is not None and value != getattr(ck.config, name):
                raise ConfigError(f"--{name.replace('_', '-')} {value} differs from the checkpoint's "
                                  f"{getattr(ck.config, name)}; a resumed run keeps its settings (only --epochs may change)")
        cfg = ck.config.replace(epochs=args.epochs) if args.epochs is not None else ck.config
    else:
        d, lr = GANConfig(), args.lr
        cfg = GANConfig(epochs=d.epochs if args.epochs is None else args.epochs,
                        batch_size=d.batch_size if args.batch_size is None else args.batch_size,
                        seed=d.seed if args.seed is None else args.seed,
                        lr_g=args.lr_g if args.lr_g is not None else lr if lr is not None else d.lr_g,
                        lr_d=args.lr_d if args.lr_d is not None else lr if lr is not None else d.lr_d)
    cfg.validate()
    run.path.mkdir(parents=True, exist_ok=True)
    lock_run_folder(run)
    if args.resume:
        run.recover()  # safe under the lock: no other writer is using what it tidies
    elif run.checkpoint.exists():
        raise ConfigError(f"{run.path} already holds a run (checkpoint.pt); continue it with --resume or choose another --out")
    control = TrainControl()
    if threading.current_thread() is threading.main_thread():
        # `kill` or a job scheduler's stop: finish the current step, record "stopped", exit normally.
        signal.signal(signal.SIGTERM, lambda signum, frame: control.stop())

    images, _ = load_fashion_mnist(True, args.data_dir, device)
    trainer = Trainer(cfg, images, device)
    if ck is not None:
        try:
            trainer.load_state_dict(ck.state)
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{run.checkpoint}: training state does not fit the model ({str(e).splitlines()[0][:160]})") from None
        # Steps logged after the checkpoint are about to be redone: drop them, so the log has each step once.
        run.trim_events(trainer.step)
        print(f"resuming from epoch {trainer.epoch} (step {trainer.step}) of {cfg.epochs}", flush=True)

    fixed_z = z_from_seed(cfg.seed + 2, SAMPLE_COUNT, cfg.latent_dim)  # one z batch, to watch G learn
    meta = {"device": device.type, "torch": str(torch.__version__)}

    def write_samples(epoch: int | None) -> None:
        G, D = trainer.G.eval(), trainer.D.eval()
        imgs = decode(G, fixed_z, cfg.image_size)
        run.write_samples(imgs, d_scores(D, imgs), epoch, trainer.step)
        G.train(), D.train()

    status_lock = threading.Lock()  # the stdin listener writes the status too

    def status(state: str, message: str = "") -> None:
        with status_lock:
            if state in ("running", "paused"):  # re-read under the lock: a pause may just have arrived
                state = "paused" if control.paused else "running"
            run.write_status(state, message=message, epoch=trainer.epoch, epochs=cfg.epochs, step=trainer.step,
                             steps_per_epoch=trainer.steps_per_epoch, images_per_sec=rate(), config=cfg.to_dict())

    busy = [0.0, 0]  # seconds stepping, images seen, in this process

    def rate() -> float:
        return busy[1] / busy[0] if busy[0] > 0 else 0.0

    total = cfg.epochs * trainer.steps_per_epoch
    bar = tqdm(total=total, initial=trainer.step, unit="step", disable=args.quiet, file=sys.stderr,
               dynamic_ncols=True, smoothing=0.05)
    status("running")
    if args.control == "stdin":
        threading.Thread(target=listen, args=(control, lambda: status("running")), daemon=True).start()
    if trainer.epoch == 0 and not args.resume:
        write_samples(None)
    courtesy = Courtesy(args.yield_to)
    pending: list[dict] = []
    last_flush = time.monotonic()
    outcome = "stopped"
    try:
        for ev in trainer.run(control):
            if isinstance(ev, StepEvent):
                bar.update(1)
                if args.events:
                    pending.append({"t": "step", "e": ev.epoch, "s": ev.step, "d": ev.d_loss, "g": ev.g_loss,
                                    "dx": ev.d_x, "dgz": ev.d_g_z})
                if control.paused:  # a single step while paused: publish its samples and progress
                    write_samples(None)
                    status("paused")
                elif args.sample_every and ev.step % args.sample_every == 0:
                    write_samples(None)
                courtesy.pause_if_busy()
            else:
                busy[0] += ev.seconds
                busy[1] += len(images)
                bar.write(ev.book_line())
                save_checkpoint(run.checkpoint, trainer.state_dict(), meta=meta)
                if ev.epoch + 1 in snapshots:
                    save_checkpoint(run.snapshot_path(ev.epoch + 1), trainer.state_dict(), half=True,
                                    generator_only=True, meta=meta)
                run.write_history(trainer.history)
                write_samples(ev.epoch)
                status("running")
                if args.events:
                    pending.append({"t": "epoch", "e": ev.epoch, "s": ev.step, "d": ev.d_loss, "g": ev.g_loss,
                                    "dx": ev.d_x, "dgz": ev.d_g_z, "md": ev.mean_d_loss, "mg": ev.mean_g_loss,
                                    "mdx": ev.mean_d_x, "mdgz": ev.mean_d_g_z, "ips": ev.images_per_sec})
            now = time.monotonic()
            if pending and (now - last_flush > 0.25 or isinstance(ev, EpochEvent) or control.paused):
                run.append_events(pending)
                pending.clear()
                last_flush = now
                status("running")
        else:
            outcome = "finished" if trainer.epoch >= cfg.epochs else "stopped"
    except TrainingDiverged as e:
        kept = (f"the last finite checkpoint (epoch {trainer.epoch}) is kept" if run.checkpoint.is_file()
                else "no checkpoint had been written yet")
        run.append_events(pending)
        status("diverged", f"{e}; {kept}")
        raise
    except KeyboardInterrupt:
        status("stopped", f"interrupted at epoch {trainer.epoch}; --resume continues from the last checkpoint")
        raise
    except BaseException as e:
        status("failed", str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise
    finally:
        bar.close()
    run.append_events(pending)
    status(outcome, "" if outcome == "finished" else f"stopped at epoch {trainer.epoch}, step {trainer.step}")
    print(f"{outcome}: epochs={trainer.epoch}/{cfg.epochs} steps={trainer.step} device={device.type} "
          f"train_seconds={busy[0]:.1f} images/s={rate():.0f} checkpoint={run.checkpoint}")
    return 0


if __name__ == "__main__":
    run_main(main)
