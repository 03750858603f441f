"""The one dataclass that describes a GAN run; its defaults are the book's recipe."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

# Fashion-MNIST's train split; batches and epochs are checked against it.
TRAIN_SIZE = 60_000
# What G minimises: the book's non-saturating BCE(D(G(z)), 1), or the GAN paper's minimax log(1 - D(G(z))).
G_LOSSES = ("book", "minimax")
# The networks: the book's MLP, or a DCGAN-style convolutional pair (gan_core/dcgan.py).
ARCHS = ("mlp", "dcgan")
# What changes in the recipe with the architecture (see arch_recipe).
ARCH_RECIPES = {
    "mlp": {"beta1": 0.9},     # the book's: Adam's defaults
    "dcgan": {"beta1": 0.5},   # the DCGAN paper's: beta1 0.9 made its training oscillate and unstable
}


class ConfigError(ValueError):
    """A hyperparameter is out of range or of the wrong type."""


def quoted(v: object, limit: int = 40) -> str:
    """A value taken from a file or a user, as a short piece of a one-line message.

    Only strings, bytes and numbers are shown, cut to `limit` characters; anything else is
    named by its type, since printing a crafted container can take minutes and megabytes.
    """
    if isinstance(v, (str, bytes)):
        r = repr(v[:limit + 1])
    elif v is None or isinstance(v, (bool, int, float)):
        try:
            r = repr(v)
        except ValueError:   # an int past Python's digit limit for str()
            return "a very large integer"
    else:
        return f"a {type(v).__name__}"
    return r if len(r) <= limit else r[:limit] + "..."


@dataclass(frozen=True)
class GANConfig:
    """Model shape and training recipe (chapter 14's values by default)."""

    latent_dim: int = 64
    hidden_dim: int = 256
    image_size: int = 28
    leaky_slope: float = 0.2
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999
    batch_size: int = 100
    epochs: int = 500
    seed: int = 0
    d_steps: int = 1        # D updates per G update (the GAN paper's k); the book's is 1
    g_loss: str = "book"    # one of G_LOSSES
    arch: str = "mlp"       # one of ARCHS; files from before it existed hold the book's MLP

    @property
    def image_dim(self) -> int:
        return self.image_size * self.image_size

    def validate(self, train_size: int = TRAIN_SIZE) -> "GANConfig":
        """Raise ConfigError with a one-line reason if any value is unusable."""
        for name, lo, hi in (("latent_dim", 1, 4096), ("hidden_dim", 1, 16384),
                             ("image_size", 1, 256), ("epochs", 1, 100_000), ("d_steps", 1, 5),
                             ("batch_size", 1, train_size)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{name} must be an integer, got {quoted(v)}")
            if not lo <= v <= hi:
                # A batch cannot hold more images than the data set: say so, the limit is not arbitrary.
                why = " (the number of training images)" if name == "batch_size" else ""
                raise ConfigError(f"{name} must be between {lo} and {hi}{why}, got {quoted(v)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {quoted(self.seed)}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be between 0 and 2**63-1, got {quoted(self.seed)}")
        if not isinstance(self.arch, str) or self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {', '.join(ARCHS)}, got {quoted(self.arch)}")
        if self.arch == "dcgan" and self.image_size % 4:
            raise ConfigError(f"a DCGAN needs image_size divisible by 4, got {self.image_size}")
        if self.arch == "dcgan" and train_size % self.batch_size == 1:
            # Batch norm cannot normalise a batch of one image, and the epoch's last batch would be one.
            raise ConfigError(f"batch_size {self.batch_size} leaves a last batch of one image, "
                              "which a DCGAN's batch norm cannot train on; choose another")
        if not isinstance(self.g_loss, str) or self.g_loss not in G_LOSSES:
            raise ConfigError(f"g_loss must be one of {', '.join(G_LOSSES)}, got {quoted(self.g_loss)}")
        for name, lo, hi in (("lr_g", 0.0, 1.0), ("lr_d", 0.0, 1.0),
                             ("beta1", 0.0, 1.0), ("beta2", 0.0, 1.0),
                             ("leaky_slope", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{name} must be a finite number, got {quoted(v)}")
            # Learning rates above 1 make Adam jump by whole units of weight: never useful here.
            # A rate of 0 freezes that network on purpose (Adam then leaves its weights exactly as they are).
            if name.startswith("lr") and not lo <= v <= hi:
                raise ConfigError(f"{name} must be in [0, 1] (0 freezes the network), got {v}")
            if not name.startswith("lr") and not lo <= v < hi:
                raise ConfigError(f"{name} must be in [0, 1), got {v}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GANConfig":
        """Rebuild from a stored dict; unknown keys are an error, missing ones take defaults."""
        if not isinstance(d, dict):
            raise ConfigError("config must be a mapping")
        known = {f.name for f in fields(cls)}
        extra = [k for k in d if k not in known]   # not sorted: keys of mixed types do not compare
        if extra:
            raise ConfigError(f"unknown config keys: {', '.join(map(quoted, extra[:5]))}"
                              + (f" and {len(extra) - 5} more" if len(extra) > 5 else ""))
        return cls(**d).validate()

    def replace(self, **changes) -> "GANConfig":
        return GANConfig(**{**asdict(self), **changes})


def arch_recipe(arch: str) -> dict:
    """The settings an architecture's reference trains with, where they differ between the two
    (hidden_dim is the MLP's width; the DCGAN's channels are fixed in gan_core/dcgan.py)."""
    if arch not in ARCHS:
        raise ConfigError(f"arch must be one of {', '.join(ARCHS)}, got {quoted(arch)}")
    return {"arch": arch, **ARCH_RECIPES[arch]}
