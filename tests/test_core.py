"""Invariants of gan_core's pieces: config, model layout, latent space, images, checkpoints."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core import (CheckpointError, ConfigError, GANConfig, Trainer, build_generator, build_models, decode,
                      gif_bytes, grid, interpolate, lerp, load_checkpoint, save_checkpoint, slerp, upscale,
                      z_from_seed)
from test_equivalence import book_models


# ---- config ---------------------------------------------------------------------------

def test_defaults_are_the_books_recipe():
    c = GANConfig()
    assert (c.latent_dim, c.hidden_dim, c.image_dim, c.leaky_slope) == (64, 256, 784, 0.2)
    assert (c.lr_g, c.lr_d, c.beta1, c.beta2, c.batch_size, c.epochs) == (2e-4, 2e-4, 0.9, 0.999, 100, 500)


@pytest.mark.parametrize("field,value,words", [
    ("lr_g", -1e-9, "lr_g must be in [0, 1]"), ("lr_d", -1e-3, "lr_d"), ("lr_g", 50.0, "lr_g"),
    ("lr_g", 1.5, "(0 freezes the network)"), ("d_steps", 0, "d_steps must be between 1 and 5"), ("d_steps", 6, "d_steps"),
    ("d_steps", 2.0, "d_steps must be an integer"), ("g_loss", "wgan", "g_loss must be one of book, minimax"),
    ("g_loss", ["book"], "g_loss must be one of"),
    ("lr_d", float("nan"), "finite"), ("batch_size", 0, "batch_size"), ("batch_size", 60_001, "batch_size"),
    ("epochs", 0, "epochs"), ("epochs", 10**9, "epochs"), ("seed", 1.5, "seed must be an integer"),
    ("seed", "7", "seed must be an integer"), ("batch_size", True, "integer"), ("latent_dim", 0, "latent_dim"),
])
def test_bad_hyperparameters_are_refused_with_a_reason(field, value, words):
    with pytest.raises(ConfigError, match=None) as e:
        GANConfig().replace(**{field: value}).validate()
    assert words in str(e.value) and "\n" not in str(e.value)


def test_config_round_trips_and_rejects_unknown_keys():
    c = GANConfig(seed=3, lr_g=1e-3)
    assert GANConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="unknown config keys: 'bogus'"):
        GANConfig.from_dict({**c.to_dict(), "bogus": 1})


# ---- model ----------------------------------------------------------------------------

def test_state_dicts_match_the_books_sequential_both_ways():
    bG, bD = book_models(seed=0)
    G, D = build_models(GANConfig())
    for ours, theirs in ((G, bG), (D, bD)):
        assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
        theirs.load_state_dict(ours.state_dict())  # ours loads in the book's code, strictly
        ours.load_state_dict(bG.state_dict() if ours is G else bD.state_dict())


def test_models_are_seeded_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, _ = build_models(GANConfig(seed=4))
    assert torch.equal(torch.get_rng_state(), before)
    b, _ = build_models(GANConfig(seed=4))
    c, _ = build_models(GANConfig(seed=5))
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, c[0].weight)


# ---- latent space ---------------------------------------------------------------------

def test_z_from_seed_is_deterministic_standard_normal():
    assert torch.equal(z_from_seed(9, 4), z_from_seed(9, 4))
    z = z_from_seed(1, 2000)
    assert z.shape == (2000, 64) and abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


def test_slerp_follows_the_arc():
    a, b = z_from_seed(1)[0], z_from_seed(2)[0]
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    omega = torch.arccos(a @ b / (a.norm() * b.norm()))
    for t in (0.25, 0.5, 0.8):
        m = slerp(a, b, t)
        angle = torch.arccos(torch.clamp(m @ a / (m.norm() * a.norm()), -1, 1))
        assert angle == pytest.approx(t * omega.item(), abs=1e-4)
        assert m.norm() == pytest.approx(((1 - t) * a.norm() + t * b.norm()).item(), rel=1e-5)


def test_slerp_nearly_parallel_and_opposite_vectors_stay_finite():
    a = z_from_seed(3)[0]
    near = a * (1 + 1e-7) + 1e-9
    assert torch.allclose(slerp(a, near, 0.5), lerp(a, near, 0.5), atol=1e-5)
    mid = slerp(a, -a, 0.5)
    assert torch.isfinite(mid).all()
    assert mid.norm() == pytest.approx(a.norm().item(), rel=1e-5)
    assert abs((mid @ a).item()) < 1e-3 * a.norm().item() ** 2       # a quarter turn: orthogonal to a
    assert torch.allclose(slerp(a, -a, 1.0), -a, atol=1e-5)
    assert torch.allclose(slerp(torch.zeros(64), a, 0.5), a / 2)


def test_interpolate_frames_and_modes():
    a, b = z_from_seed(1)[0], z_from_seed(2)[0]
    for mode in ("lerp", "slerp"):
        f = interpolate(a, b, 7, mode)
        assert f.shape == (7, 64) and torch.allclose(f[0], a, atol=1e-5) and torch.allclose(f[-1], b, atol=1e-5)
    assert not torch.allclose(interpolate(a, b, 7, "lerp")[3], interpolate(a, b, 7, "slerp")[3])
    with pytest.raises(ValueError):
        interpolate(a, b, 1)
    with pytest.raises(ValueError):
        interpolate(a, b, 5, "cubic")


def test_decode_gives_display_ready_uint8():
    G = build_generator(GANConfig())
    imgs = decode(G, z_from_seed(0, 5))
    assert imgs.dtype == np.uint8 and imgs.shape == (5, 28, 28) and imgs.std() > 0


# ---- images ---------------------------------------------------------------------------

def test_grid_upscale_and_gif():
    imgs = np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 4, 4)
    g = grid(imgs, ncols=3, pad=1)
    assert g.shape == (2 * 5 + 1, 3 * 5 + 1)
    assert np.array_equal(g[1:5, 1:5], imgs[0]) and np.array_equal(g[6:10, 11:15], imgs[5])
    assert np.array_equal(upscale(imgs[0], 3)[::3, ::3], imgs[0])
    gif = Image.open(io.BytesIO(gif_bytes(imgs * 10, boomerang=False)))
    assert gif.n_frames == 6


# ---- checkpoints ----------------------------------------------------------------------

@pytest.fixture
def trained_state(small_data_dir):
    from gan_core import load_fashion_mnist
    x, _ = load_fashion_mnist(True, small_data_dir)
    tr = Trainer(GANConfig(epochs=1, batch_size=300), x, "cpu")
    list(tr.run())
    return tr


@pytest.mark.slow
def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, trained_state):
    path = save_checkpoint(tmp_path / "c.pt", trained_state.state_dict())
    ck = load_checkpoint(path)
    z = z_from_seed(0, 8)
    assert np.array_equal(decode(ck.build_generator(), z), decode(trained_state.G, z))
    assert torch.equal(ck.build_discriminator()(trained_state.G(z)), trained_state.D(trained_state.G(z)))
    assert ck.epoch == 1 and ck.step == 10 and ck.history["epoch"] == [0.0] and ck.state is not None
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]     # no temporary file left behind


@pytest.mark.slow
def test_half_precision_snapshot_loads_as_float32(tmp_path, trained_state):
    path = save_checkpoint(tmp_path / "s.pt", trained_state.state_dict(), half=True, generator_only=True)
    ck = load_checkpoint(path)
    assert ck.discriminator is None and ck.state is None
    assert all(v.dtype == torch.float32 for v in ck.generator.values())
    z = z_from_seed(0, 8)
    assert torch.allclose(ck.build_generator()(z), trained_state.G(z), atol=2e-2)
    full = save_checkpoint(tmp_path / "f.pt", trained_state.state_dict(), generator_only=True)
    assert path.stat().st_size < 0.6 * full.stat().st_size


def test_book_style_state_dict_loads_as_a_generator(tmp_path):
    bG, bD = book_models(seed=2)
    torch.save(bG.state_dict(), tmp_path / "book_G.pt")
    ck = load_checkpoint(tmp_path / "book_G.pt")
    assert ck.source == "book state_dict" and ck.config.latent_dim == 64
    z = z_from_seed(0, 3)
    assert torch.equal(ck.build_generator()(z), bG(z))
    torch.save(bD.state_dict(), tmp_path / "book_D.pt")
    with pytest.raises(CheckpointError, match="discriminator"):
        load_checkpoint(tmp_path / "book_D.pt")


@pytest.mark.slow
def test_resuming_continues_exactly(trained_state, small_data_dir):
    """Two epochs in one go equal one epoch, a checkpoint, and one more epoch from it."""
    from gan_core import load_fashion_mnist
    x, _ = load_fashion_mnist(True, small_data_dir)
    cfg = GANConfig(epochs=2, batch_size=300)
    straight = Trainer(cfg, x, "cpu")
    list(straight.run())
    resumed = Trainer(cfg, x, "cpu")
    resumed.load_state_dict(trained_state.state_dict())
    list(resumed.run())
    for k, v in straight.G.state_dict().items():
        assert torch.equal(v, resumed.G.state_dict()[k]), k
    assert straight.history == resumed.history | {"seconds": straight.history["seconds"]}


def test_to_uint8_recovers_the_data_sets_bytes(small_data_dir):
    from torchvision.datasets import FashionMNIST
    from gan_core import load_fashion_mnist, to_uint8
    x, _ = load_fashion_mnist(True, small_data_dir)
    raw = FashionMNIST(str(small_data_dir), train=True, download=False).data[:50].numpy()
    assert np.array_equal(to_uint8(x[:50]), raw)


def test_public_names_keep_their_meaning_after_every_submodule_is_imported():
    """A CLI module must never shadow the library name it shares (gan_core.interpolate is the function)."""
    import importlib
    import inspect
    import pkgutil

    import gan_core
    kinds = {name: inspect.isclass(getattr(gan_core, name)) or inspect.isfunction(getattr(gan_core, name))
             for name in gan_core.__all__}
    for mod in pkgutil.walk_packages(gan_core.__path__, "gan_core."):
        importlib.import_module(mod.name)
    importlib.import_module("gan_core.interpolate")
    assert inspect.isfunction(gan_core.interpolate) and gan_core.interpolate is gan_core.latent.interpolate
    for name in gan_core.__all__:
        value = getattr(gan_core, name)
        assert not inspect.ismodule(value), f"gan_core.{name} became a module"
        if kinds[name]:
            assert inspect.isclass(value) or inspect.isfunction(value), name
    from gan_core import book_step, gan_step  # the chapter's step, plain and fast, both public
    assert inspect.isfunction(book_step) and inspect.isfunction(gan_step)


def test_long_interpolation_strips_wrap_instead_of_shrinking():
    from gan_core import strip
    frames = np.full((32, 28, 28), 200, np.uint8)
    picture = strip(frames)
    assert picture.shape == (4 * 30 * 3 + 2 * 3, 8 * 30 * 3 + 2 * 3)   # 4 rows of 8 frames, each at 3x (84 px)
    assert strip(frames[:5]).shape[1] == 5 * 30 * 4 + 2 * 4            # a short walk: one row, at 4x


def test_no_function_in_the_library_runs_past_sixty_lines():
    """A newcomer reads gan_core top to bottom: long functions are split where they do two things."""
    import ast
    from pathlib import Path

    import gan_core
    long = []
    for path in Path(gan_core.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long
