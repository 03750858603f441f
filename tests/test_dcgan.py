"""The DCGAN beside the book's MLP: shapes, its training step, checkpoints that know their architecture."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from gan_core import GANConfig, Trainer, load_checkpoint, load_classifier, load_fashion_mnist
from gan_core import dcgan_step, step
from gan_core.checkpoints import CheckpointError, save_checkpoint
from gan_core.config import ConfigError, arch_recipe
from gan_core.model import build_models
from gan_core.quality import evaluate_generator
from gan_core.cli.sample import main as sample_main
from helpers import cli

DCGAN = GANConfig(**arch_recipe("dcgan"), epochs=1)
MLP = GANConfig(epochs=1)


def _x(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_generator_goes_up_7_14_28_and_keeps_the_mlps_flat_interface():
    G, D = build_models(DCGAN)
    maps = []
    hooks = [m.register_forward_hook(lambda m, i, o: maps.append(tuple(o.shape[1:])))
             for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    hooks += [m.register_forward_hook(lambda m, i, o: maps.append(tuple(o.shape[1:])))
              for m in D.modules() if isinstance(m, nn.Conv2d)]
    fake = G(torch.randn(5, 64))
    p = D(fake)
    for h in hooks:
        h.remove()
    assert maps == [(64, 14, 14), (1, 28, 28), (64, 14, 14), (128, 7, 7)]
    assert fake.shape == (5, 784) and fake.abs().max() <= 1
    assert p.shape == (5, 1) and ((p > 0) & (p < 1)).all()
    # The MLP is untouched: the book's layout, the book's sizes.
    g, d = build_models(MLP)
    assert [m.out_features for m in g if isinstance(m, nn.Linear)] == [256, 256, 784]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())


def test_batch_norm_sits_where_the_dcgan_recipe_puts_it_and_weights_start_small():
    G, D = build_models(DCGAN)
    kinds = [type(m).__name__ for m in G] + ["|"] + [type(m).__name__ for m in D]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Unflatten", "ConvTranspose2d", "BatchNorm2d", "ReLU",
                     "ConvTranspose2d", "Tanh", "Flatten", "|",
                     "Unflatten", "Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten", "Linear",
                     "Sigmoid"]
    # The paper's N(0, 0.02) initialisation, not PyTorch's default (whose conv std here is about 0.07).
    assert 0.015 < G[4].weight.std() < 0.025 and 0.015 < D[3].weight.std() < 0.025


def test_config_arch_defaults_to_mlp_for_old_files_and_is_checked():
    old = MLP.to_dict()
    del old["arch"]
    assert GANConfig.from_dict(old).arch == "mlp"
    assert load_checkpoint("checkpoints/book.pt").config.arch == "mlp"   # shipped before the field existed
    assert DCGAN.arch == "dcgan" and DCGAN.beta1 == 0.5 and GANConfig().beta1 == 0.9
    with pytest.raises(ConfigError, match="arch must be one of mlp, dcgan"):
        GANConfig(arch="resnet").validate()
    with pytest.raises(ConfigError, match="last batch of one image"):
        DCGAN.replace(batch_size=7).validate(train_size=50)   # 50 = 7 * 7 + 1


def test_d_step_then_g_step_equals_one_gan_step_and_measuring_changes_nothing():
    tr = Trainer(DCGAN, _x(200), "cpu")
    x, z = _x(100, 1), torch.randn(100, 64, generator=torch.Generator().manual_seed(2))
    a = copy.deepcopy((tr.G, tr.D, tr.opt_g, tr.opt_d))
    b = copy.deepcopy((tr.G, tr.D, tr.opt_g, tr.opt_d))
    G, D = a[0], a[1]
    before = {k: v.clone() for k, v in {**G.state_dict(), **{f"D.{k}": v for k, v in D.state_dict().items()}}.items()}
    m = dcgan_step.measure_gan(G, D, x, z)
    after = {**G.state_dict(), **{f"D.{k}": v for k, v in D.state_dict().items()}}
    assert all(torch.equal(before[k], after[k]) for k in before)   # running statistics included
    whole = dcgan_step.gan_step(*a, x, z)
    d = dcgan_step.d_step(b[0], b[1], b[3], x, z)
    g = dcgan_step.g_step(b[0], b[1], b[2], z)
    assert torch.allclose(whole, torch.stack((d[0], g[0], d[1], d[2])), atol=1e-6)
    assert torch.allclose(m[[0, 2, 3]], d, atol=1e-6)                 # the numbers before the update
    for net_a, net_b in ((a[0], b[0]), (a[1], b[1])):
        sa, sb = net_a.state_dict(), net_b.state_dict()
        assert all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6) for k in sa)
    assert not torch.equal(before["0.weight"], a[0].state_dict()["0.weight"])   # it did learn


def test_the_trainer_picks_the_step_by_architecture():
    assert Trainer(DCGAN, _x(100), "cpu").steps is dcgan_step
    assert Trainer(MLP, _x(100), "cpu").steps is step


def test_on_the_cpu_the_convolutions_run_channels_last_and_take_the_same_steps():
    tr = Trainer(DCGAN, _x(200), "cpu")
    convs = [m.weight for net in (tr.G, tr.D) for m in net if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 4 and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                                   for w in convs if w.shape[0] > 1 and w.shape[1] > 1)
    # In float64, so that what is compared is the maths and not rounding: in float32 batch norm's cancellations
    # leave gradients of the two layouts up to 0.5% (of the largest) apart.
    last = [copy.deepcopy(m).double() for m in (tr.G, tr.D)]
    first = [copy.deepcopy(m).to(memory_format=torch.contiguous_format).double() for m in (tr.G, tr.D)]
    assert last[1][1].weight.is_contiguous(memory_format=torch.channels_last) and first[1][1].weight.is_contiguous()
    runs = [(*nets, *step.make_optimizers(*nets, DCGAN)) for nets in (last, first)]
    for i in range(3):   # three steps, so that Adam's state is in play; a batch of 10 (float64 convolutions are slow)
        x, z = _x(10, i).double(), torch.randn(10, 64, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
        a, b = (dcgan_step.gan_step(*run, x, z) for run in runs)
        assert torch.allclose(a, b, rtol=1e-12, atol=0)
    for net_a, net_b in zip(last, first):
        sa, sb = net_a.state_dict(), net_b.state_dict()
        assert all(torch.allclose(sa[k].double(), sb[k].double(), rtol=1e-9, atol=1e-12) for k in sa)


def _trained(cfg: GANConfig, n_steps: int = 2) -> Trainer:
    tr = Trainer(cfg.replace(batch_size=50), _x(100), "cpu")
    list(tr.run())
    return tr


def test_full_state_round_trips_and_a_resumed_run_continues_exactly(tmp_path):
    tr = _trained(DCGAN.replace(epochs=1))
    path = save_checkpoint(tmp_path / "dc.pt", tr.state_dict())
    ck = load_checkpoint(path)
    assert ck.config.arch == "dcgan" and ck.state is not None
    sd = tr.G.state_dict()
    assert set(ck.generator) == set(sd) and all(torch.equal(ck.generator[k], sd[k]) for k in sd)
    assert ck.generator["1.num_batches_tracked"].dtype == torch.long
    z = torch.randn(8, 64)
    loaded, trained = ck.build_generator()(z), tr.G.eval()(z)
    # The file's G is built in the default layout, the trainer's is channels-last: the same weights, the same
    # pictures up to the order of a convolution's additions.
    assert torch.equal(loaded, copy.deepcopy(tr.G).to(memory_format=torch.contiguous_format)(z))
    assert torch.allclose(loaded, trained, atol=1e-6)
    # Resume: one more epoch from the file equals one more epoch in memory.
    tr.G.train()
    more = Trainer(DCGAN.replace(batch_size=50, epochs=2), _x(100), "cpu")
    more.load_state_dict(ck.state)
    tr.cfg = tr.cfg.replace(epochs=2)
    list(tr.run()), list(more.run())
    assert all(torch.equal(a, b) for a, b in zip(tr.G.state_dict().values(), more.G.state_dict().values()))


def test_float16_snapshot_keeps_the_counter_whole_and_draws_the_same_pictures(tmp_path):
    tr = _trained(DCGAN)
    path = save_checkpoint(tmp_path / "snap.pt", tr.state_dict(), half=True, generator_only=True)
    ck = load_checkpoint(path)
    assert ck.discriminator is None and ck.config.arch == "dcgan"
    assert ck.generator["1.num_batches_tracked"].item() == tr.G[1].num_batches_tracked.item() == 2
    z = torch.randn(8, 64)
    assert (ck.build_generator()(z) - tr.G.eval()(z)).abs().max() < 2e-2


def test_a_bare_dcgan_state_dict_loads_as_a_dcgan(tmp_path):
    G, _ = build_models(DCGAN)
    torch.save(G.state_dict(), tmp_path / "g.pt")
    ck = load_checkpoint(tmp_path / "g.pt")
    assert ck.config.arch == "dcgan" and ck.config.latent_dim == 64 and ck.source == "book state_dict"


@pytest.mark.parametrize("saved, asked, says", [
    ("mlp", "dcgan", "holds the book's MLP GAN (arch mlp), not a DCGAN (arch dcgan)"),
    ("dcgan", "mlp", "holds a DCGAN (arch dcgan), not the book's MLP GAN (arch mlp)"),
])
def test_loading_as_the_other_architecture_is_refused_in_one_line(tmp_path, saved, asked, says):
    tr = _trained(DCGAN if saved == "dcgan" else MLP)
    path = save_checkpoint(tmp_path / f"{saved}.pt", tr.state_dict())
    assert load_checkpoint(path, arch=saved).config.arch == saved
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, arch=asked)
    assert str(e.value) == f"{path}: {says}"


def test_a_config_that_names_the_wrong_architecture_for_its_weights_is_refused(tmp_path):
    state = _trained(DCGAN).state_dict()
    state["config"] = {k: v for k, v in state["config"].items() if k != "arch"}   # as an older program would write
    path = save_checkpoint(tmp_path / "dc.pt", state)
    with pytest.raises(CheckpointError, match=r"^generator: the weights are those of a DCGAN, but the config says "
                                              r"arch mlp$"):
        load_checkpoint(path)


def test_cli_refuses_the_other_architecture_in_one_line(tmp_path, capsys):
    tr = _trained(DCGAN)
    path = save_checkpoint(tmp_path / "dc.pt", tr.state_dict())
    code, out, err = cli(sample_main, ["--checkpoint", path, "--arch", "mlp", "--out", tmp_path / "x.png"], capsys)
    assert code == 2 and out == ""
    assert err == f"gan_core.sample: error: {path}: holds a DCGAN (arch dcgan), not the book's MLP GAN (arch mlp)\n"


@pytest.mark.slow
def test_short_real_data_training_beats_an_untrained_generator(small_data_dir, tmp_path):
    """Two epochs of the CLI's --arch dcgan on 3,000 real images: the classifier sees the difference."""
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "gan_core.train", "--arch", "dcgan", "--epochs", "2", "--threads", "2",
                        "--data-dir", str(small_data_dir), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    ck = load_checkpoint(out / "checkpoint.pt", arch="dcgan")
    assert ck.epoch == 2 and ck.config.beta1 == 0.5
    clf = load_classifier().build("cpu")
    x_train, _ = load_fashion_mnist(True, small_data_dir)
    x_test, _ = load_fashion_mnist(False, small_data_dir)
    untrained = evaluate_generator(build_models(ck.config)[0].eval(), clf, x_train, x_test, n=500, seed=0)
    trained = evaluate_generator(ck.build_generator(), clf, x_train, x_test, n=500, seed=0)
    # 60 steps: far from good pictures, but already nearer the real ones by every measure.
    assert trained.frechet_distance < 0.95 * untrained.frechet_distance
    assert trained.classifier_score > untrained.classifier_score
    assert trained.nearest_median < 0.8 * untrained.nearest_median   # from flat noise to garment-like pixels


# ---- the Architectures page ---------------------------------------------------------------------

ARCH_PAGE = "views/architectures.py"


@pytest.fixture
def shelf(clean, monkeypatch):
    """A checkpoints folder with the shipped book model and a small DCGAN (2 epochs on noise, 2 snapshots)."""
    from helpers import ROOT
    folder = clean / "checkpoints"
    (folder / "dcgan-snapshots").mkdir(parents=True)
    for name in ("book.pt", "book-snapshots", "classifier.pt"):
        (folder / name).symlink_to(ROOT / "checkpoints" / name)
    tr = Trainer(DCGAN.replace(epochs=2, batch_size=50), _x(100), "cpu")
    for ev in tr.run():
        if type(ev).__name__ == "EpochEvent":
            save_checkpoint(folder / "dcgan-snapshots" / f"epoch-{tr.epoch:04d}.pt", tr.state_dict(), half=True,
                            generator_only=True)
    save_checkpoint(folder / "dcgan.pt", tr.state_dict())
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(folder))
    return folder


@pytest.fixture
def no_data(clean, no_data_set):
    """The app with no copy of Fashion-MNIST it could find (conftest.no_data_set)."""


def _url(picture) -> str:
    """The address AppTest gives an image of these PNG bytes (its media ids hash the content)."""
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id
    from gan_core import png_bytes
    return f"/mock/media/{_calculate_file_id(png_bytes(picture), 'image/png')}.png"


def _expected(folder, seed: int) -> dict[str, list[str]]:
    """What the page should draw from `seed`: each model's sample grid and its Timeline row, the same z for both."""
    from gan_core import decode, grid, upscale, z_from_seed
    out = {}
    for stem in ("book", "dcgan"):
        G = load_checkpoint(folder / f"{stem}.pt").build_generator()
        z = z_from_seed(seed, 18, 64)
        out[stem] = [_url(grid(decode(G, z), ncols=6, scale=3))]
        for p in sorted((folder / f"{stem}-snapshots").glob("*.pt")):
            out[stem].append(_url(upscale(decode(load_checkpoint(p).build_generator(), z[:1])[0], 3)))
    return out


def test_the_page_shows_both_models_from_the_same_z_and_each_ones_timeline(shelf, no_data):
    from helpers import app, image_captions, image_urls, texts
    at = app(ARCH_PAGE)
    assert not at.error
    assert [s.value for s in at.subheader] == ["Training, snapshot by snapshot"]
    said = texts(at, "markdown")
    assert "**The book's MLP** · 500 epochs · G has 283,920 parameters" in said
    assert "**DCGAN** · 2 epochs · G has 546,177 parameters" in said
    want = _expected(shelf, 0)
    assert image_urls(at) == want["book"][:1] + want["dcgan"][:1] + want["book"][1:] + want["dcgan"][1:]
    assert image_captions(at)[2:] == ["1", "2", "3", "5", "10", "20", "50", "100", "200", "300", "400", "500", "1", "2"]
    assert "need the real Fashion-MNIST" in " ".join(i.value for i in at.info)

    at.number_input(key="arch.seed").set_value(7).run()
    want7 = _expected(shelf, 7)
    assert image_urls(at) == want7["book"][:1] + want7["dcgan"][:1] + want7["book"][1:] + want7["dcgan"][1:]
    assert set(image_urls(at)).isdisjoint(want["book"] + want["dcgan"])


def test_without_a_dcgan_the_page_says_how_to_train_one_and_still_shows_the_book(shelf, no_data):
    from helpers import app, image_captions
    (shelf / "dcgan.pt").unlink()
    at = app(ARCH_PAGE)
    assert not at.error
    said = " ".join(i.value for i in at.info)
    assert "`dcgan.pt` is not in the checkpoints folder" in said and "--arch dcgan" in said
    assert image_captions(at)[1:] == ["1", "2", "3", "5", "10", "20", "50", "100", "200", "300", "400", "500"]


def test_a_broken_dcgan_file_is_one_line_and_the_book_still_shows(shelf, no_data):
    from helpers import app, image_urls, shown
    (shelf / "dcgan.pt").write_bytes(b"not a checkpoint")
    at = app(ARCH_PAGE)
    said = shown(at.error[0].value)
    assert len(at.error) == 1 and said.startswith("dcgan.pt: ") and "not a readable PyTorch checkpoint" in said
    assert "\n" not in said
    assert len(image_urls(at)) == 1 + 12


@pytest.mark.slow
def test_the_quality_table_holds_the_librarys_numbers_for_both(shelf, clean, monkeypatch, small_data_dir):
    from explorer import evaluations
    from gan_core import real_reference
    from helpers import app
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    at = app(ARCH_PAGE, timeout=300)
    assert not at.error
    table = at.dataframe[0].value
    assert list(table.columns) == ["Measure", "The book's MLP", "DCGAN", "Real data"]
    rows = dict(zip(table["Measure"], zip(table["The book's MLP"], table["DCGAN"], table["Real data"])))
    data = evaluations.real_data()
    clf = evaluations.judge(str(evaluations.classifier_path()), evaluations.classifier_path().stat().st_mtime_ns)
    ref = real_reference(clf.model, data.train, data.test, data.test_labels, seed=0)
    fd = [evaluate_generator(load_checkpoint(shelf / f"{s}.pt").build_generator(), clf.model, data.train, data.test,
                             n=2000, seed=0, reference=ref).frechet_distance for s in ("book", "dcgan")]
    assert rows["Frechet distance"][:2] == (f"{fd[0]:.2f}", f"{fd[1]:.2f}")
    assert rows["Classes present"][2] == "10/10" and rows["Closer than any test image"][2].startswith("0/")
