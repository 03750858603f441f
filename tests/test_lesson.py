"""The Lesson page and what it shows: the networks' real layers, one step of the book's training (against
gan_core.book_step and the book's loop typed out here), where the shipped run settled, links that open other
pages in the right state; in English and Korean, in-process and in Chromium.

    .venv/bin/pytest tests/test_lesson.py -m "not browser"   # the library and AppTests, about a minute
    .venv/bin/pytest tests/test_lesson.py -m browser         # ?lang=ko in headless Chromium, with screenshots
"""
from __future__ import annotations

import copy
import math
import re
from urllib.parse import parse_qs

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from explorer.training_form import PRESETS
from gan_core import (EQUILIBRIUM, GANConfig, Trainer, book_step, build_generator, config_layers, dcgan_step,
                      layer_outputs, layers, load_checkpoint, load_fashion_mnist, save_checkpoint, settled,
                      step_anatomy, step_inputs, to_uint8)
from gan_core.model import build_models
from gan_core.step import make_optimizers
from helpers import APP, ROOT, array, chart, chromium, open_app, streamlit_server, texts

BOOK = ROOT / "checkpoints" / "book.pt"


@pytest.fixture(scope="module")
def book():
    """The shipped book model, trained 500 epochs: G, D, config, history."""
    ck = load_checkpoint(BOOK)
    return ck.build_generator(), ck.build_discriminator(), ck.config, ck.history


def state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


# ---- the networks ------------------------------------------------------------------------------

def test_layers_are_the_books_with_their_parameter_counts(book):
    G, D, cfg, _ = book
    assert [(l.in_features, l.out_features, l.params, l.activation) for l in layers(G)] == [
        (64, 256, 64 * 256 + 256, "ReLU"), (256, 256, 256 * 256 + 256, "ReLU"), (256, 784, 256 * 784 + 784, "Tanh")]
    assert [(l.in_features, l.out_features, l.activation) for l in layers(D)] == [
        (784, 256, "LeakyReLU(0.2)"), (256, 256, "LeakyReLU(0.2)"), (256, 1, "Sigmoid")]
    assert sum(l.params for l in layers(G)) == 283_920 == sum(p.numel() for p in G.parameters())
    assert sum(l.params for l in layers(D)) == 267_009 == sum(p.numel() for p in D.parameters())
    # From the settings alone (a file without D), the same shapes.
    assert config_layers(cfg) == (layers(G), layers(D))
    other = GANConfig(latent_dim=16, hidden_dim=32, image_size=14)
    g, d = config_layers(other)
    assert [(l.in_features, l.out_features) for l in g] == [(16, 32), (32, 32), (32, 196)]
    assert [(l.in_features, l.out_features) for l in d] == [(196, 32), (32, 32), (32, 1)]


# ---- one step ---------------------------------------------------------------------------------

def test_step_inputs_are_a_seeded_batch(fashion_train):
    cfg = GANConfig()
    x, z = step_inputs(fashion_train[0], cfg, seed=3)
    assert x.shape == (100, 784) and z.shape == (100, 64)
    x2, z2 = step_inputs(fashion_train[0], cfg, seed=3)
    assert torch.equal(x, x2) and torch.equal(z, z2)
    x3, z3 = step_inputs(fashion_train[0], cfg, seed=4)
    assert not torch.equal(x, x3) and not torch.equal(z, z3)
    # Rows of the data set: each image is found among the training images (by a random projection, then whole).
    r = torch.randn(784, generator=torch.Generator().manual_seed(0))
    nearest = ((fashion_train[0] @ r)[:, None] - (x @ r)[None, :]).abs().argmin(0)
    assert all(torch.equal(fashion_train[0][i], row) for i, row in zip(nearest, x))


def test_step_anatomy_is_book_step_and_leaves_the_callers_models_alone(book, fashion_train):
    G, D, cfg, _ = book
    x, z = step_inputs(fashion_train[0], cfg, seed=0)
    before_g, before_d = state(G), state(D)

    a = step_anatomy(G, D, x, z, cfg)

    # The caller's models are untouched, and still frozen as the app loads them.
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before_g.items())
    assert all(torch.equal(v, D.state_dict()[k]) for k, v in before_d.items())
    assert not any(p.requires_grad for p in (*G.parameters(), *D.parameters()))

    # gan_core.book_step on copies of the same models with the same inputs and a fresh Adam: the same four
    # numbers and the same models after the step.
    G2, D2 = copy.deepcopy(G).requires_grad_(True), copy.deepcopy(D).requires_grad_(True)
    opt_g, opt_d = make_optimizers(G2, D2, cfg)
    want = book_step(G2, D2, opt_g, opt_d, x, z).tolist()
    assert [a.d_loss, a.g_loss, a.d_x, a.d_g_z] == want
    assert all(torch.equal(v, a.G.state_dict()[k]) for k, v in G2.state_dict().items())
    assert all(torch.equal(v, a.D.state_dict()[k]) for k, v in D2.state_dict().items())
    # ... and the step did move both.
    assert not torch.equal(a.G.state_dict()["4.weight"], G.state_dict()["4.weight"])
    assert not torch.equal(a.D.state_dict()["0.weight"], D.state_dict()["0.weight"])

    # The per-image scores are the ones the book's numbers are means of.
    assert a.real.shape == a.fake.shape == a.fake_after.shape == (100, 28, 28)
    assert np.array_equal(a.real, to_uint8(x))
    assert a.d_real.mean() == pytest.approx(a.d_x, abs=1e-6)
    assert a.d_fake.mean() == pytest.approx(a.d_g_z, abs=1e-6)
    assert -np.log(a.d_real).mean() - np.log(1 - a.d_fake).mean() == pytest.approx(a.d_loss, rel=1e-5)
    assert -np.log(a.d_fake_after).mean() == pytest.approx(a.g_loss, rel=1e-5)   # G's loss is taken through D'
    assert a.printout == (f"d_loss:{want[0]:.4f} g_loss: {want[1]:.4f} D(x):{want[2]:.2f} "
                          f"D(G(z)):{want[3]:.2f}")
    # Each update lowers its own loss on the batch (the book's model, a first Adam step).
    assert a.d_loss_after < a.d_loss and a.g_loss_after < a.g_loss


def test_the_step_seen_from_inside_matches_the_books_loop_typed_out(book, fashion_train):
    """An independent reference: chapter 14's step written out as the book does (nn.BCELoss, plain Adam with lr
    0.0002), stopped between D's update and G's to look at D's scores."""
    G, D, cfg, _ = book
    x, z = step_inputs(fashion_train[0], cfg, seed=5)
    a = step_anatomy(G, D, x, z, cfg)

    G3, D3 = copy.deepcopy(G).requires_grad_(True), copy.deepcopy(D).requires_grad_(True)
    criterion = nn.BCELoss()
    d_optimizer = torch.optim.Adam(D3.parameters(), lr=0.0002)
    g_optimizer = torch.optim.Adam(G3.parameters(), lr=0.0002)
    real_labels, fake_labels = torch.ones(100, 1), torch.zeros(100, 1)

    outputs = D3(x)
    d_loss_real = criterion(outputs, real_labels)
    real_score = outputs
    fake_images = G3(z)
    outputs = D3(fake_images)
    d_loss_fake = criterion(outputs, fake_labels)
    fake_score = outputs
    d_loss = d_loss_real + d_loss_fake
    d_optimizer.zero_grad()
    g_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()
    with torch.no_grad():   # between the two updates
        real_after, fake_after_d = D3(x).flatten().numpy(), D3(fake_images).flatten().numpy()

    fake_images = G3(z)
    outputs = D3(fake_images)
    g_loss = criterion(outputs, real_labels)
    d_optimizer.zero_grad()
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    with torch.no_grad():
        new_fakes = G3(z)
        fake_after_g = D3(new_fakes).flatten().numpy()

    # Fused and plain Adam round differently: agreement to float32 noise, not bits.
    assert [a.d_loss, a.g_loss, a.d_x, a.d_g_z] == pytest.approx(
        [d_loss.item(), g_loss.item(), real_score.mean().item(), fake_score.mean().item()], rel=1e-5)
    np.testing.assert_allclose(a.d_real, real_score.detach().flatten().numpy(), atol=1e-6)
    np.testing.assert_allclose(a.d_fake, fake_score.detach().flatten().numpy(), atol=1e-6)
    np.testing.assert_allclose(a.d_real_after, real_after, atol=1e-4)
    np.testing.assert_allclose(a.d_fake_after, fake_after_d, atol=1e-4)
    np.testing.assert_allclose(a.d_fake_after_g, fake_after_g, atol=1e-4)
    assert np.abs(a.fake_after.astype(int) - to_uint8(new_fakes).astype(int)).max() <= 1
    # The updates really changed D's scores and G's pictures.
    assert np.abs(a.d_real_after - a.d_real).mean() > 1e-3 and np.abs(a.d_fake_after_g - a.d_fake_after).mean() > 1e-3
    assert (a.fake_after != a.fake).any()


def test_a_saved_adam_is_continued_on_copies_and_its_steps_are_typical(book, fashion_train):
    """With the Adam states a checkpoint saved, the step is the run's next one: book_step with Adams that continue
    those moments (and cfg's learning rates), the saved states left as they were for the next visitor."""
    G, D, cfg, _ = book
    adam = load_checkpoint(BOOK).adam
    saved = copy.deepcopy(adam)
    x, z = step_inputs(fashion_train[0], cfg, seed=0)
    a = step_anatomy(G, D, x, z, cfg, adam=adam)
    assert a.adam_steps == 300_000   # 500 epochs of 600 steps

    G2, D2 = copy.deepcopy(G).requires_grad_(True), copy.deepcopy(D).requires_grad_(True)
    opt_g, opt_d = torch.optim.Adam(G2.parameters(), lr=cfg.lr_g), torch.optim.Adam(D2.parameters(), lr=cfg.lr_d)
    for opt, s in zip((opt_g, opt_d), saved):
        opt.load_state_dict({"state": copy.deepcopy(s["state"]), "param_groups": opt.state_dict()["param_groups"]})
    want = book_step(G2, D2, opt_g, opt_d, x, z).tolist()
    assert [a.d_loss, a.g_loss, a.d_x, a.d_g_z] == pytest.approx(want, rel=1e-5)   # fused and plain Adam round apart
    assert all(torch.allclose(v, a.G.state_dict()[k], atol=1e-6) for k, v in G2.state_dict().items())
    # not a fresh Adam's step: that one moves each weight by about lr, this one by far less on most
    fresh = step_anatomy(G, D, x, z, cfg)
    moved = (a.G.state_dict()["4.weight"] - G.state_dict()["4.weight"]).abs()
    assert a.g_loss != fresh.g_loss and moved.median() < 0.5 * cfg.lr_g
    # the caller's Adam states are untouched (a loaded model's are shared by every visitor)
    for s, before in zip(adam, saved):
        for i, moments in before["state"].items():
            assert all(torch.equal(v, s["state"][i][k]) for k, v in moments.items())
    # Typical steps: each update lowers its own loss on the batch (the book's model, five batches).
    for seed in range(1, 6):
        b = step_anatomy(G, D, *step_inputs(fashion_train[0], cfg, seed), cfg, adam=adam)
        assert b.lowered, seed


def test_where_the_shipped_run_settled(book):
    _, _, _, history = book
    end = settled(history, 100)
    assert end["d_x"] == pytest.approx(np.mean(history["mean_d_x"][-100:]))
    assert end["d_g_z"] == pytest.approx(np.mean(history["mean_d_g_z"][-100:]))
    # The numbers: D(x) near 0.68, D(G(z)) near 0.32, short of the 0.5 of the equilibrium.
    assert 0.64 < end["d_x"] < 0.72 and 0.28 < end["d_g_z"] < 0.36
    assert EQUILIBRIUM["d_loss"] == pytest.approx(2 * math.log(2)) and EQUILIBRIUM["g_loss"] == pytest.approx(math.log(2))
    # A history with only the book's printout (one batch per epoch) still gives an answer.
    assert settled({"d_x": [1.0, 0.5, 0.7]}, 2) == {"d_x": pytest.approx(0.6)}


# ---- the page ----------------------------------------------------------------------------------

DCGAN_FILE = ROOT / "checkpoints" / "dcgan.pt"


def test_layer_outputs_follow_any_network_through_its_maps():
    G, D = build_models(GANConfig(arch="dcgan"))
    g, d = layer_outputs(G, 64), layer_outputs(D, 784)
    assert [r.shape for r in g if r.module.startswith(("Unflatten", "ConvTranspose2d"))] == [(128, 7, 7), (64, 14, 14),
                                                                                           (1, 28, 28)]
    assert [r.shape for r in d if r.module.startswith("Conv2d")] == [(64, 14, 14), (128, 7, 7)]
    assert g[-1].shape == (784,) and d[-1].shape == (1,) and d[-1].module == "Sigmoid()"
    assert [r.module for r in g[:4]] == ["Linear(64, 6272, bias=False)", "BatchNorm1d(6272)", "ReLU()",
                                         "Unflatten(1, (128, 7, 7))"]
    assert sum(r.params for r in g) == sum(p.numel() for p in G.parameters()) == 546_177
    assert sum(r.params for r in d) == sum(p.numel() for p in D.parameters()) == 138_689
    # The book's MLP too, and the caller's network is left as it was (training mode, statistics, weights).
    mlp = build_models(GANConfig())[0]
    assert [r.shape for r in layer_outputs(mlp, 64)] == [(256,), (256,), (256,), (256,), (784,), (784,)]
    assert G.training and all(torch.equal(b, torch.zeros_like(b)) for k, b in G.state_dict().items()
                              if k.endswith("running_mean"))


@pytest.mark.skipif(not DCGAN_FILE.exists(), reason="the shipped DCGAN is not in checkpoints/")
def test_a_dcgans_step_is_its_own_and_its_scores_are_what_the_numbers_average(fashion_train):
    ck = load_checkpoint(DCGAN_FILE)
    G, D, cfg = ck.build_generator(), ck.build_discriminator(), ck.config
    x, z = step_inputs(fashion_train[0], cfg, seed=0)
    before_g, before_d = state(G), state(D)
    a = step_anatomy(G, D, x, z, cfg)
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before_g.items())   # batch norm statistics too
    assert all(torch.equal(v, D.state_dict()[k]) for k, v in before_d.items())
    # The DCGAN's own step (batch statistics, the paper's Adam) on copies: the same numbers and models after it.
    G2, D2 = (copy.deepcopy(m).requires_grad_(True).train() for m in (G, D))
    want = dcgan_step.gan_step(G2, D2, *make_optimizers(G2, D2, cfg), x, z).tolist()
    assert [a.d_loss, a.g_loss, a.d_x, a.d_g_z] == want
    assert all(torch.equal(v, a.G.state_dict()[k]) for k, v in G2.state_dict().items())
    # The scores shown are the ones the step's numbers are means of.
    assert a.d_real.mean() == pytest.approx(a.d_x, abs=1e-6) and a.d_fake.mean() == pytest.approx(a.d_g_z, abs=1e-6)
    assert -np.log(a.d_real).mean() - np.log(1 - a.d_fake).mean() == pytest.approx(a.d_loss, rel=1e-5)
    # A fresh Adam's first step overshoots on this trained DCGAN (D's loss rises at seed 0); continuing the saved
    # Adam, each update lowers its own loss, as a step of the run does.
    assert a.d_loss_after > a.d_loss
    for seed in (0, 2):   # the batch a fresh Adam overshoots on, and another
        b = step_anatomy(G, D, *step_inputs(fashion_train[0], cfg, seed), cfg, adam=ck.adam)
        assert b.adam_steps == ck.step and b.lowered, seed


@pytest.fixture
def clean(clean, monkeypatch, small_data_dir):
    """conftest's clean app state, with a small real data set."""
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    return clean


def opened(lang: str | None = None) -> AppTest:
    """The app's root, as a new visitor opens it (with ?lang=LANG when given)."""
    at = AppTest.from_file(str(APP), default_timeout=90)
    if lang:
        at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


TITLES = {"en": "Lesson: a GAN learns by competing", "ko": "수업: 경쟁하며 학습하는 GAN"}


def test_a_new_visitor_lands_on_the_lesson_and_other_pages_keep_their_addresses(clean):
    at = opened()
    assert at.title[0].value == TITLES["en"]
    for page, title in (("views/latent.py", "Latent space"), ("views/interpolate.py", "Interpolate")):
        other = AppTest.from_file(str(APP), default_timeout=90).switch_page(page).run()   # /latent, /interpolate
        assert not other.exception and other.title[0].value == title
    lesson = AppTest.from_file(str(APP), default_timeout=90).switch_page("views/lesson.py").run()   # /lesson
    assert lesson.title[0].value == TITLES["en"]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_lesson_shows_the_models_real_layers_and_counts(clean, lang):
    at = opened(lang)
    assert at.title[0].value == TITLES[lang] and at.query_params["lang"] == lang
    assert not at.error and not at.warning
    net = chart(at, "lesson.networks")
    assert list(net["G"]["customdata"]) == [64, 256, 256, 784]
    assert list(net["D"]["customdata"]) == [784, 256, 256, 1]
    assert list(net["G.layers"]["customdata"]) == [16_640, 65_792, 201_488]
    assert list(net["D.layers"]["customdata"]) == [200_960, 65_792, 257]
    assert "283,920" in net["G"]["name"] and "267,009" in net["D"]["name"]
    caption = texts(at, "caption")
    assert "283,920" in caption and "267,009" in caption
    headers = [h.value for h in at.header]
    assert headers[:4] == ({"en": ["1. Two networks", "2. One training step, slowed down", "3. What the curves mean",
                                   "4. The latent space and interpolation"],
                            "ko": ["1. 두 신경망", "2. 학습 한 단계를 천천히", "3. 학습 곡선 읽기", "4. 잠재 공간과 보간"]}[lang])


def test_a_generator_only_file_says_d_is_missing_and_draws_d_from_the_settings(clean, monkeypatch):
    folder = clean / "g-only"
    folder.mkdir()
    torch.save(build_generator(GANConfig()).state_dict(), folder / "book-g.pt")   # what the book's readers save
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(folder))
    at = opened()
    assert not at.exception and not at.error
    info = texts(at, "info")
    assert "D is not in it" in info and "A step needs D" in info
    net = chart(at, "lesson.networks")
    assert list(net["D.layers"]["customdata"]) == [200_960, 65_792, 257]
    assert "not in this file" in net["D"]["name"]
    assert not at.get("metric")   # no step without D


@pytest.mark.parametrize("cfg", [GANConfig(latent_dim=32, hidden_dim=128), GANConfig(latent_dim=8, hidden_dim=16,
                                                                                  image_size=14)],
                         ids=["32-128-784", "14x14 images"])
def test_any_mlp_the_app_loads_is_drawn_with_its_own_sizes(clean, monkeypatch, cfg):
    folder = clean / "other"
    folder.mkdir()
    save_checkpoint(folder / "other.pt", Trainer(cfg.replace(epochs=1), torch.rand(100, cfg.image_dim) * 2 - 1,
                                                 "cpu").state_dict())
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(folder))
    at = opened()
    assert not at.exception and not at.error
    h, d = cfg.hidden_dim, cfg.image_dim
    net = chart(at, "lesson.networks")
    assert list(net["G"]["customdata"]) == [cfg.latent_dim, h, h, d]
    assert list(net["G.layers"]["customdata"]) == [cfg.latent_dim * h + h, h * h + h, h * d + d]
    assert list(net["D.layers"]["customdata"]) == [d * h + h, h * h + h, h + 1]
    if cfg.image_size == 28:   # a step on Fashion-MNIST, with this model's batch and z
        assert len(at.get("metric")) == 4 and "random numbers" in texts(at, "markdown")
        assert "It starts from a fresh Adam" in texts(at, "caption")   # the file's Adam never took a step
    else:
        assert not at.get("metric") and "cannot take a step" in texts(at, "info")


@pytest.mark.skipif(not DCGAN_FILE.exists(), reason="the shipped DCGAN is not in checkpoints/")
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_dcgan_picked_in_the_sidebar_is_shown_as_the_convolutional_pair_it_is(clean, small_data_dir, lang):
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params.update({"model": "checkpoint:dcgan.pt", "lang": lang})
    at.run()
    assert not at.exception and not at.error, at.exception
    assert not at.get("plotly_chart") or "lesson.networks" not in [c.proto.id for c in at.get("plotly_chart")]
    shown = texts(at, "markdown")
    assert "128" in shown and "7×7" in shown and ("Both are MLPs" not in shown)
    g, d = (at.table[i].value for i in (0, 1))
    assert "ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False)" in list(g.iloc[:, 0])
    assert list(g.iloc[:, 1])[3] == "128 × 7 × 7" and list(d.iloc[:, 1])[-1] == "1"
    assert "546,177" in texts(at, "caption") and "138,689" in texts(at, "caption")
    # The step is the DCGAN's own: the page's numbers are the library's for this model.
    ck = load_checkpoint(DCGAN_FILE)
    data = load_fashion_mnist(train=True, data_dir=small_data_dir)[0]
    a = step_anatomy(ck.build_generator(), ck.build_discriminator(), *step_inputs(data, ck.config, 0), ck.config,
                     adam=ck.adam)
    assert at.code[0].value == a.printout
    # The step continues the DCGAN's saved Adam; the page says what happened to each loss.
    md = texts(at, "markdown")
    assert f"{a.d_loss:.4f}" in md and f"{a.d_loss_after:.4f}" in md and f"{a.g_loss_after:.4f}" in md
    if lang == "en":
        assert ("Each update lowered its own loss" in md) == a.lowered and "overshoot" not in md
        assert f"after its {ck.step:,} training steps" in texts(at, "caption")
    if lang == "ko":
        from test_i18n import english_left, file_names, shown_text
        left = {s: w for s in shown_text(at) if (w := english_left(s, file_names()))}
        assert not left, left


def test_a_fresh_install_gets_the_prompt_to_train(clean, monkeypatch):
    (clean / "empty").mkdir()
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(clean / "empty"))
    at = opened("ko")
    assert at.title[0].value == TITLES["ko"] and at.info and not at.error
    assert any("train" in link.proto.page for link in at.get("page_link"))


def test_without_data_the_step_says_how_to_get_it_and_the_rest_works(clean, monkeypatch, no_data_set):
    at = opened()
    assert not at.exception and "Fashion-MNIST was not found" in texts(at, "warning")
    assert chart(at, "lesson.curves") and chart(at, "lesson.networks") and not at.get("metric")


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.get("metric")}


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_steps_numbers_on_the_page_are_the_librarys(clean, small_data_dir, book, lang):
    G, D, cfg, _ = book
    adam = load_checkpoint(BOOK).adam
    data = load_fashion_mnist(train=True, data_dir=small_data_dir)[0]
    at = opened(lang)
    for seed in (0, 17):
        if seed:
            at.number_input(key="lesson.seed").set_value(seed).run()
            assert not at.exception
        a = step_anatomy(G, D, *step_inputs(data, cfg, seed), cfg, adam=adam)
        loss = {"en": ("d_loss", "g_loss"), "ko": ("D 손실", "G 손실")}[lang]
        assert metrics(at) == {loss[0]: f"{a.d_loss:.4f}", loss[1]: f"{a.g_loss:.4f}", "D(x)": f"{a.d_x:.2f}",
                               "D(G(z))": f"{a.d_g_z:.2f}"}
        assert at.code[0].value == a.printout
        step = chart(at, "lesson.step")
        assert array(step["real.before"]["x"]).mean() == pytest.approx(a.d_x, abs=1e-5)
        assert array(step["fake.before"]["x"]).mean() == pytest.approx(a.d_g_z, abs=1e-5)
        assert np.allclose(array(step["fake_g.after"]["x"]), a.d_fake_after_g, atol=1e-6)
        assert f"{a.d_loss_after:.4f}" in texts(at, "markdown") and f"{a.g_loss_after:.4f}" in texts(at, "markdown")
        assert [c.split("→")[0] for c in image_captions(at)[:6]] == [f"{s:.2f}" for s in a.d_real[:6]]
        continued = {"en": "after its 300,000 training steps", "ko": "300,000번의 학습 단계"}[lang]
        assert continued in texts(at, "caption")   # the Adam saved with the model, not a fresh one


def image_captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def test_the_curves_are_the_shipped_runs_history(clean, book):
    _, _, _, history = book
    at = opened()
    curves = chart(at, "lesson.curves")
    assert np.allclose(array(curves["d_x"]["y"]), history["mean_d_x"], atol=1e-6)
    settled_x = np.mean(history["mean_d_x"][-100:])
    assert array(curves["d_x.settled"]["y"]) == pytest.approx([settled_x] * 2, abs=1e-6)
    words = texts(at, "markdown")
    assert f"D(x) averaged {settled_x:.2f}" in words and f"D(G(z)) {np.mean(history['mean_d_g_z'][-100:]):.2f}" in words
    assert "`2 ln 2 = 1.39`" in words and "`ln 2 = 0.69`" in words


def links(at) -> list[tuple[str, dict[str, list[str]]]]:
    return [(link.proto.page, parse_qs(link.proto.query_string)) for link in at.get("page_link")]


@pytest.mark.parametrize("lang", [None, "ko"])
def test_links_open_the_other_pages_in_the_right_state(clean, lang):
    at = opened(lang)
    keep = {"lang": [lang]} if lang else {}
    found = links(at)
    assert [page for page, _ in found] == ["latent", "train", "timeline", "train", "latent", "interpolate"]
    # The Train page's settings are bound to its URL (explorer/training_form.py): a preset's, written out.
    for (_, query), preset in zip([f for f in found if f[0] == "train"], ("quick", "d_too_fast")):
        s = PRESETS[preset].settings
        assert query == {"preset": [preset], "epochs": [str(s.epochs)], "batch": [str(s.batch_size)],
                         "lr_g": [str(s.lr_g)], "lr_d": [str(s.lr_d)], "seed": [str(s.seed)],
                         "sample_every": [str(s.sample_every)], "d_steps": [str(s.d_steps)],
                         "g_loss": [s.g_loss], "arch": [s.arch], **keep}
    assert found[3][1]["lr_d"] == ["0.002"] and found[1][1]["epochs"] == ["10"]
    # The other pages open on what the lesson shows (explorer/share_link.py): seed 1's z, the walk from 1 to 2.
    assert [f for f in found if f[0] != "train"] == [
        ("latent", {"seed": ["1"], **keep}), ("timeline", {"seed": ["1"], "epoch": ["1"], **keep}),
        ("latent", {"seed": ["1"], **keep}),
        ("interpolate", {"a": ["1"], "b": ["2"], "mode": ["slerp"], "frames": ["10"], **keep})]


def test_a_train_link_fills_the_train_form(clean):
    """What the link carries is what the Train page shows: its URL-bound settings take the preset's values."""
    at = opened("ko")
    _, query = next(f for f in links(at) if f[0] == "train" and f[1]["lr_d"] == ["0.002"])
    train = AppTest.from_file(str(APP), default_timeout=90)
    for k, v in query.items():
        train.query_params[k] = v[0]
    train.switch_page("views/train.py").run()
    assert not train.exception
    assert train.number_input(key="lr_d").value == pytest.approx(0.002)
    assert train.number_input(key="epochs").value == 10 and train.query_params["lang"] == "ko"
    assert train.selectbox(key="train.preset").value == "d_too_fast"   # and the preset box names it


# ---- a real browser ----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(240)
def test_the_korean_lesson_in_a_real_browser(tmp_path, small_data_dir):
    """"/?lang=ko" in headless Chromium at 1024x768: the lesson, in Korean, first in the navigation; its step's
    numbers and pictures; a link to the Train page that opens with the preset's settings, still in Korean."""
    env = {"GAN_EXPLORER_RUNS": str(tmp_path / "runs"), "GAN_EXPLORER_DATA": str(small_data_dir)}
    with streamlit_server(env, tmp_path / "server.log") as url, chromium(1024, 768) as page:
        open_app(page, f"{url}/?lang=ko")
        page.wait_for_url(re.compile(r"/lesson\?(.*&)?lang=ko(&|$)"), timeout=60_000)   # the model picker adds ?model=
        page.get_by_role("heading", name=TITLES["ko"]).wait_for(timeout=60_000)
        nav = page.locator("[data-testid=stSidebarNav] a")
        assert nav.first.inner_text().strip().endswith("수업")   # after its icon's name
        assert page.get_by_text("Lesson", exact=True).count() == 0
        page.get_by_text("D 손실", exact=True).wait_for(timeout=60_000)
        page.get_by_text("생성자 G: 파라미터 283,920개").wait_for(timeout=60_000)   # inside the Plotly diagram
        pictures = page.locator("[data-testid=stMain] [data-testid=stImage] img")
        pictures.nth(18).wait_for(timeout=60_000)   # 19 or more: 3 rows of 6, the walk
        # No horizontal scrolling at 1024 px.
        assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollWidth") <= 1024
        page.screenshot(path=str(tmp_path / "lesson-ko.png"))
        assert (tmp_path / "lesson-ko.png").stat().st_size > 20_000

        page.get_by_role("link", name=re.compile("판별자가 이기는 경우")).click()
        page.wait_for_url(re.compile(r"/train\?.*lr_d=0\.002.*lang=ko"), timeout=60_000)
        page.get_by_role("heading", name="새 학습").wait_for(timeout=60_000)
        assert float(page.get_by_role("spinbutton", name="판별자 학습률").input_value()) == pytest.approx(0.002)
