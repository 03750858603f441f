"""Self-describing checkpoints, written atomically and read without running code.

A project checkpoint is a dict saved with torch.save:
    format, version, config (GANConfig as a dict), epoch, step,
    generator, discriminator (state_dicts), opt_g, opt_d, history, rng, meta.
Snapshots may hold only the generator, stored in float16. A plain book-style
generator state_dict (`torch.save(G.state_dict(), path)`) loads too, the book's MLP's
or a DCGAN's (told apart by their keys). The config's arch says which networks the
weights are for (a file without it holds the MLP); a DCGAN's batch norm adds running
statistics and an int64 batch counter to its state_dict.
Loading uses torch.load(weights_only=True): a pickle that would run code is refused.
Nothing large is allocated before it is checked: files over MAX_CHECKPOINT_BYTES,
zips that unpack past it and tensors that claim more values than they store are
refused, and a config's model shapes are worked out on the meta device.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch
from torch import nn

from .config import ARCHS, ConfigError, GANConfig, quoted
from .dcgan import CHANNELS
from .files import atomic_write
from .pickle_guard import PickleRefused, PickleUnreadable, check_torch_file
from .model import build_discriminator, build_generator, discriminator_shapes, generator_shapes

FORMAT = "gan-explorer-checkpoint"
VERSION = 1
# Our largest file (full state, book sizes) is about 12 MB; anything far bigger is not ours.
MAX_CHECKPOINT_BYTES = 200 * 1024 * 1024
SEQUENTIAL_KEYS = ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias")
# How a one-line message names each architecture.
ARCH_NAMES = {"mlp": "the book's MLP GAN", "dcgan": "a DCGAN"}
COUNTER_KEY = "num_batches_tracked"   # batch norm's int64 counter, the one tensor that is not floating point


class CheckpointError(ValueError):
    """A file is not a usable checkpoint; the message says why in one line."""


@dataclass
class Checkpoint:
    """A validated checkpoint: float32 weights on the CPU and the config that rebuilds them."""

    config: GANConfig
    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor] | None = None
    epoch: int = 0
    step: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    state: dict | None = None   # full training state, when the file has one (for resuming)
    source: str = FORMAT        # FORMAT, or "book state_dict"

    @property
    def adam(self) -> tuple[dict, dict] | None:
        """G's and D's Adam states as training left them, when the file has them (else None)."""
        return (self.state["opt_g"], self.state["opt_d"]) if self.state else None

    def build_generator(self, device: str | torch.device = "cpu") -> nn.Sequential:
        G = build_generator(self.config)
        G.load_state_dict(self.generator)
        return G.to(device).eval().requires_grad_(False)

    def build_discriminator(self, device: str | torch.device = "cpu") -> nn.Sequential | None:
        if self.discriminator is None:
            return None
        D = build_discriminator(self.config)
        D.load_state_dict(self.discriminator)
        return D.to(device).eval().requires_grad_(False)


def save_checkpoint(path: str | os.PathLike, state: dict, *, half: bool = False,
                    generator_only: bool = False, meta: dict | None = None) -> Path:
    """Write a trainer state (Trainer.state_dict()) atomically; optionally G only, in float16."""
    out = dict(state)
    if generator_only:
        out = {k: out[k] for k in ("config", "epoch", "step", "generator", "history") if k in out}
    if half:   # weights and statistics; a batch norm's step counter stays an integer
        out["generator"] = {k: v.half() if v.is_floating_point() else v for k, v in out["generator"].items()}
    out.update(format=FORMAT, version=VERSION, meta=dict(meta or {}))
    # Serialise in memory first: torch.save reports a full disk as an opaque RuntimeError,
    # while a plain write of the bytes raises the OSError that says what went wrong.
    buf = io.BytesIO()
    torch.save(out, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))


def _unpacked_size(fobj) -> int | None:
    """Total size of a zip checkpoint's members once read (from its directory); None if not a zip."""
    try:
        with zipfile.ZipFile(fobj) as z:
            return sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    finally:
        if hasattr(fobj, "seek"):
            fobj.seek(0)


def read_weights_file(src: str | os.PathLike | bytes | BinaryIO, max_bytes: int) -> object:
    """torch.load with weights_only, a size limit checked before reading, and one-line CheckpointErrors."""
    if isinstance(src, (bytes, bytearray)):
        size, fobj, name = len(src), io.BytesIO(src), "upload"
    elif hasattr(src, "read"):
        fobj, name = src, getattr(src, "name", "upload")
        size = getattr(src, "size", None)
        if size is None:
            data = src.read(max_bytes + 1)
            size, fobj = len(data), io.BytesIO(data)
    else:
        p = Path(src)
        name = str(p)
        if not p.is_file():
            raise CheckpointError(f"{p}: no such file")
        size, fobj = p.stat().st_size, p
    limit = f"the {max_bytes / 2**20:.0f} MB limit for checkpoints"
    if size > max_bytes:
        raise CheckpointError(f"{name}: {size / 2**20:.0f} MB is over {limit}")
    # torch.load inflates compressed zip members: a small file could unpack to gigabytes.
    unpacked = _unpacked_size(fobj)
    if unpacked is not None and unpacked > max_bytes:
        raise CheckpointError(f"{name}: unpacks to {unpacked / 2**20:.0f} MB, over {limit}")
    opened = open(fobj, "rb") if isinstance(fobj, Path) else None
    try:
        return _guarded_load(opened or fobj, name)
    finally:
        if opened:
            opened.close()


def _guarded_load(fobj: BinaryIO, name: str) -> object:
    """torch.load(weights_only=True) of a file whose pickle passed pickle_guard first."""
    try:
        # weights_only runs no code, yet a crafted pickle can still crash or stall the process that
        # builds it (a million-deep nesting, a hash bomb): its opcodes are walked first.
        check_torch_file(fobj)
    except PickleUnreadable as e:
        raise CheckpointError(f"{name}: not a readable PyTorch checkpoint ({e})") from None
    except PickleRefused as e:
        raise CheckpointError(f"{name}: refused, {e}; nothing in it was loaded") from None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        raise CheckpointError(f"{name}: not a readable PyTorch checkpoint (truncated or not a checkpoint file)") from None
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles on stderr; the error below says it in one line
            warnings.simplefilter("ignore")
            return torch.load(fobj, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses any global it does not know: a pickled class, a function, a code hook.
        m = re.search(r"GLOBAL ([\w.]{1,100})", str(e))
        if not m:  # not a refused global: the bytes are simply not a pickle
            raise CheckpointError(f"{name}: not a readable PyTorch checkpoint (truncated or not a checkpoint file)") from None
        raise CheckpointError(f"{name}: refused, it holds Python objects ({m.group(1)}) rather than plain tensors and numbers; "
                              "nothing in it was run (for a model, save G.state_dict())") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as e:
        raise CheckpointError(f"{name}: not a readable PyTorch checkpoint (truncated or not a checkpoint file)") from e


def check_tensor(what: str, v: object, shape: tuple[int, ...]) -> torch.Tensor:
    """A dense, finite float tensor of the given shape, as float32; CheckpointError naming `what` otherwise."""
    if not isinstance(v, torch.Tensor) or not v.is_floating_point():
        raise CheckpointError(f"{what} is not a floating-point tensor")
    if tuple(v.shape) != shape:
        raise CheckpointError(f"{what} has shape {tuple(v.shape)}, the model expects {shape}")
    # A tensor with zero strides claims more elements than its file holds; copying it would allocate them.
    if v.untyped_storage().nbytes() < v.numel() * v.element_size():
        raise CheckpointError(f"{what} is not a dense tensor (its storage holds fewer values than its shape)")
    v = v.float()
    if not torch.isfinite(v).all():
        raise CheckpointError(f"{what} contains NaN or infinite values")
    return v


def _check_weights(what: str, sd: object, expected: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    if not isinstance(sd, dict):
        raise CheckpointError(f"{what}: expected a state_dict, got {type(sd).__name__}")
    missing = [k for k in expected if k not in sd]
    extra = [k for k in sd if k not in expected]
    if missing or extra:
        unexpected = ", ".join(map(quoted, extra[:6])) if extra else "none"
        raise CheckpointError(f"{what}: keys do not match the model (missing {missing or 'none'}, unexpected [{unexpected}])")
    return {k: (check_counter(f"{what}: {k}", sd[k]) if k.endswith(COUNTER_KEY) else check_tensor(f"{what}: {k}", sd[k], shape))
            for k, shape in expected.items()}


def check_counter(what: str, v: object, counts: str = "batches") -> torch.Tensor:
    """A count (a batch norm's training batches, an Adam's steps): one non-negative whole number, as int64."""
    if not isinstance(v, torch.Tensor) or v.numel() != 1 or v.ndim != 0:
        raise CheckpointError(f"{what} is not a single number")
    if v.untyped_storage().nbytes() < v.element_size():
        raise CheckpointError(f"{what} is not a dense tensor (its storage holds fewer values than its shape)")
    value = v.double().item() if v.is_floating_point() else v.item()
    if not math.isfinite(value) or value < 0 or value != int(value) or value > 2**62:
        raise CheckpointError(f"{what} is not a count of {counts}")
    return torch.tensor(int(value), dtype=torch.long)


def _check_adam(what: str, opt: object, expected: dict[str, tuple[int, ...]]) -> None:
    """Adam's moments must fit the parameters (in state_dict order), or the first step would fail mid-run."""
    if not isinstance(opt, dict) or not isinstance(opt.get("state"), dict) or not isinstance(opt.get("param_groups"), list):
        raise CheckpointError(f"{what}: not an optimiser state")
    shapes = list(expected.values())
    for i, st in opt["state"].items():
        if not isinstance(i, int) or not 0 <= i < len(shapes) or not isinstance(st, dict):
            raise CheckpointError(f"{what}: state of parameter {quoted(i)} does not fit the model")
        for name in ("exp_avg", "exp_avg_sq"):
            check_tensor(f"{what}: {name} of parameter {i}", st.get(name), shapes[i])
        step = st.get("step")
        if isinstance(step, (int, float)) and not isinstance(step, bool):   # older PyTorch kept a plain number
            step = torch.tensor(float(step))
        check_counter(f"{what}: step of parameter {i}", step, counts="steps")
        if (st["exp_avg_sq"] < 0).any():   # a mean of squares: its square root would be NaN in the next step
            raise CheckpointError(f"{what}: exp_avg_sq of parameter {i} has negative values")


def _shapes(shapes_of, cfg: GANConfig, parameters: bool = False) -> dict[str, tuple[int, ...]]:
    # Built on the meta device: shapes only, nothing allocated, however large the config asks for.
    with torch.device("meta"):
        return shapes_of(cfg, parameters)


def _book_config(sd: dict) -> GANConfig:
    """Infer latent, hidden and image sizes from a bare Sequential state_dict."""
    w0, w4 = sd["0.weight"], sd["4.weight"]
    if not isinstance(w0, torch.Tensor) or not isinstance(w4, torch.Tensor) or w0.ndim != 2 or w4.ndim != 2:
        raise CheckpointError("state_dict: 0.weight and 4.weight must be matrices")
    if w4.shape[0] == 1:
        raise CheckpointError("this is a discriminator state_dict (one output); load a generator's")
    side = math.isqrt(w4.shape[0])
    if side * side != w4.shape[0]:
        raise CheckpointError(f"state_dict: generator output size {w4.shape[0]} is not a square image")
    try:
        return GANConfig(latent_dim=w0.shape[1], hidden_dim=w0.shape[0], image_size=side).validate()
    except ConfigError as e:
        raise CheckpointError(f"state_dict: {e}") from None


def _dcgan_config(sd: dict) -> GANConfig:
    """Infer latent and image sizes from a bare DCGAN generator state_dict (its projection's shape)."""
    w0 = sd["0.weight"]
    if not isinstance(w0, torch.Tensor) or w0.ndim != 2:
        raise CheckpointError("state_dict: 0.weight must be a matrix")
    side = math.isqrt(w0.shape[0] // CHANNELS[0])
    try:
        return GANConfig(latent_dim=w0.shape[1], image_size=4 * side, arch="dcgan").validate()
    except ConfigError as e:
        raise CheckpointError(f"state_dict: {e}") from None


def _weights_arch(sd: object) -> str | None:
    """Which architecture a generator state_dict's keys belong to (by its layout, whatever its sizes)."""
    if not isinstance(sd, dict):
        return None
    for arch in ARCHS:
        if set(sd) == set(_shapes(generator_shapes, GANConfig(arch=arch))):
            return arch
    return None


def _source_name(src: object) -> str:
    if isinstance(src, (bytes, bytearray)):
        return "upload"
    return str(getattr(src, "name", "upload")) if hasattr(src, "read") else str(src)


def load_checkpoint(src: str | os.PathLike | bytes | BinaryIO, max_bytes: int = MAX_CHECKPOINT_BYTES,
                    arch: str | None = None) -> Checkpoint:
    """Read and validate a project checkpoint or a book-style G state_dict; raises CheckpointError.

    arch ("mlp" or "dcgan"), when given, is the architecture the caller expects: a file that
    holds the other one is refused with one line saying which it holds."""
    ck = _load_checkpoint(src, max_bytes)
    if arch is not None and ck.config.arch != arch:
        asked = f"{ARCH_NAMES[arch]} (arch {arch})" if arch in ARCH_NAMES else f"arch {quoted(arch)}"
        raise CheckpointError(f"{_source_name(src)}: holds {ARCH_NAMES[ck.config.arch]} (arch {ck.config.arch}), "
                              f"not {asked}")
    return ck


def _load_checkpoint(src: str | os.PathLike | bytes | BinaryIO, max_bytes: int) -> Checkpoint:
    obj = read_weights_file(src, max_bytes)
    if not isinstance(obj, dict):
        raise CheckpointError(f"not a checkpoint: the file holds a {type(obj).__name__}, not a dict")
    if obj.get("format") != FORMAT:
        found = _weights_arch(obj)
        if found is not None:
            cfg = _book_config(obj) if found == "mlp" else _dcgan_config(obj)
            return Checkpoint(cfg, _check_weights("generator", obj, _shapes(generator_shapes, cfg)), source="book state_dict")
        raise CheckpointError("not a GAN Explorer checkpoint nor a generator state_dict "
                              f"(keys: {', '.join(map(quoted, list(obj)[:6]))})")
    if not isinstance(obj.get("version"), int) or obj["version"] > VERSION:
        raise CheckpointError(f"checkpoint format version {quoted(obj.get('version'))} is newer than this program reads ({VERSION})")
    try:
        cfg = GANConfig.from_dict(obj.get("config"))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint config: {e}") from None
    found = _weights_arch(obj.get("generator"))
    if found is not None and found != cfg.arch:
        # A config edited by hand, or written by a program that dropped the field: say so, not which keys differ.
        raise CheckpointError(f"generator: the weights are those of {ARCH_NAMES[found]}, but the config says arch {cfg.arch}")
    G = _check_weights("generator", obj.get("generator"), _shapes(generator_shapes, cfg))
    D = None
    if obj.get("discriminator") is not None:
        D = _check_weights("discriminator", obj["discriminator"], _shapes(discriminator_shapes, cfg))
    history = obj.get("history") or {}
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        raise CheckpointError("checkpoint history is malformed")
    epoch, step = obj.get("epoch", 0), obj.get("step", 0)
    if not isinstance(epoch, int) or not isinstance(step, int) or epoch < 0 or step < 0:
        raise CheckpointError("checkpoint epoch/step are malformed")
    resumable = D is not None and all(k in obj for k in ("opt_g", "opt_d"))
    if resumable:
        _check_adam("opt_g", obj["opt_g"], _shapes(generator_shapes, cfg, parameters=True))
        _check_adam("opt_d", obj["opt_d"], _shapes(discriminator_shapes, cfg, parameters=True))
    state = {**obj, "generator": G, "discriminator": D} if resumable else None
    return Checkpoint(cfg, G, D, epoch, step, history, state)
