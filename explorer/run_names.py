"""What a run is called wherever people pick or see one: the title someone gave it, or a default
made from its settings (recipe, epochs, seed) that reads well in a picker and on a projector."""
from __future__ import annotations

from dataclasses import replace

from gan_core import ConfigError, RunFolder

from .i18n import t, tn
from .run_manager import RunSettings
from .training_form import ARCH_NAMES, PRESETS

# The default names the recipe only: a run's length and seed are said separately. Quick look is
# the book's recipe cut short, so it is not a recipe of its own.
_RECIPES = {k: p for k, p in PRESETS.items() if k != "quick"}


def recipe_name(settings: RunSettings) -> str:
    """The preset whose recipe these settings follow (whatever their epochs, seed and sample interval), in words;
    another architecture than the book's is named instead."""
    if settings.arch != RunSettings.arch:
        return t(ARCH_NAMES[settings.arch])
    for preset in _RECIPES.values():
        if replace(settings, epochs=preset.settings.epochs, seed=preset.settings.seed,
                   sample_every=preset.settings.sample_every) == preset.settings:
            return t(preset.name)
    return t("Your own settings")


def default_title(run: RunFolder) -> str:
    """Recipe · epochs · seed, from the run's settings; the folder's id when it has none readable."""
    try:
        found = run.read_settings()
    except ConfigError:
        found = None
    if found is None:
        return run.name
    c = found[0]
    settings = RunSettings(epochs=c.epochs, batch_size=c.batch_size, lr_g=c.lr_g, lr_d=c.lr_d, seed=c.seed,
                           d_steps=c.d_steps, g_loss=c.g_loss, arch=c.arch)
    return " · ".join((recipe_name(settings), tn("{n:,} epoch", "{n:,} epochs", c.epochs), t("seed {seed}", seed=c.seed)))


def run_title(run: RunFolder) -> str:
    """The run's name as people see it: the title given to it, else the default."""
    return run.read_title() or default_title(run)


def distinct_labels(labels: dict[str, str]) -> dict[str, str]:
    """key -> label, where labels that two entries share get the key's name after them: two runs of the same recipe
    have the same default title, and a picker must tell them apart."""
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {k: f"{label} · {k.partition(':')[2][:16]}" if seen[label] > 1 else label for k, label in labels.items()}
