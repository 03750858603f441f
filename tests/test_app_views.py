"""The Timeline and Quality pages, in-process with AppTest.

Timeline runs on the shipped book snapshots; Quality scores the shipped book
model on a 3,000-image slice of the real Fashion-MNIST (GAN_EXPLORER_DATA), so
that measuring the real data takes a second rather than twelve.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import gan_core.data  # noqa: E402
from explorer import evaluations  # noqa: E402
from gan_core import (CLASS_NAMES, RunFolder, evaluate_generator, load_checkpoint,  # noqa: E402
                      real_reference, save_checkpoint, z_from_seed)
from helpers import ROOT, app, array, chart, images, texts, untrained_checkpoint  # noqa: E402

BOOK = ROOT / "checkpoints" / "book.pt"
BOOK_EPOCHS = sorted(int(p.stem.removeprefix("epoch-")) for p in (ROOT / "checkpoints" / "book-snapshots").glob("*.pt"))


@pytest.fixture
def small_data(clean, monkeypatch, small_data_dir):
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    return small_data_dir


def row(at: AppTest) -> dict[int, str]:
    """The Timeline's side-by-side row: epoch -> url."""
    return {int(c.replace(",", "")): u for c, u in images(at).items() if c.replace(",", "").isdigit()}


# ---- Timeline ---------------------------------------------------------------------------------

def test_timeline_draws_one_z_at_every_book_snapshot(clean):
    at = app("views/timeline.py")
    assert BOOK_EPOCHS == [1, 2, 3, 5, 10, 20, 50, 100, 200, 300, 400, 500]
    seed0 = row(at)
    assert list(seed0) == BOOK_EPOCHS
    assert len(set(seed0.values())) == len(BOOK_EPOCHS), "two epochs drew the very same picture"
    assert any(u.endswith(".gif") for u in images(at).values())
    # The curves come from book.pt's 500-epoch history, with the chosen snapshot marked.
    curves = chart(at, "timeline.chart")
    assert len(array(curves["d_x"]["x"])) == 500
    assert array(curves["d_x.at_epoch"]["x"]).tolist() == [1]

    at.number_input(key="timeline.seed").set_value(7).run()
    seed7 = row(at)
    assert all(seed7[e] != seed0[e] for e in BOOK_EPOCHS), "a new seed left some pictures unchanged"

    # The Latent page's z, when it is seed 7's, draws exactly seed 7's pictures.
    at.session_state["latent.z"] = z_from_seed(7, 1, 64)[0].tolist()
    at.radio(key="timeline.z_src").set_value("latent").run()
    assert "sliders on the Latent space page" in texts(at, "caption")
    assert row(at) == seed7


def test_scrubbing_moves_the_big_picture_and_the_marker(clean):
    at = app("views/timeline.py")

    def big() -> tuple[str, str]:
        return next((c, u) for c, u in images(at).items() if c.startswith("G(z) after"))

    assert big()[0] == "G(z) after epoch 1"
    first = big()[1]
    at.select_slider(key="timeline.epoch").set_value(100).run()
    caption, url = big()
    assert caption == "G(z) after epoch 100" and url != first
    dx = chart(at, "timeline.chart")["d_x.at_epoch"]
    # Marked on the curve: D(x)'s mean over the 100th epoch, from the checkpoint's history.
    assert array(dx["y"])[0] == pytest.approx(load_checkpoint(BOOK).history["mean_d_x"][99], abs=1e-6)

    at.segmented_control(key="timeline.curves").set_value("losses").run()
    assert {"d_loss", "g_loss"} <= set(chart(at, "timeline.chart"))
    assert big()[0] == "G(z) after epoch 100"


def test_timeline_without_snapshots_says_how_to_keep_them_and_finds_a_runs(clean, monkeypatch):
    empty = clean / "checkpoints"
    empty.mkdir()
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(empty))
    at = app("views/timeline.py")
    assert "No snapshots to show" in texts(at, "info") and "--snapshot-epochs" in texts(at, "info")
    assert not at.error and not images(at)

    # A run trained with --snapshot-epochs appears as a source (here, untrained weights saved as epochs 2 and 4).
    run = RunFolder(clean / "runs" / "with-snapshots")
    run.path.mkdir(parents=True)
    run.write_status("finished")
    state = load_checkpoint(untrained_checkpoint(clean)).state
    for epoch in (4, 2):
        save_checkpoint(run.snapshot_path(epoch), {**state, "epoch": epoch}, half=True, generator_only=True)
    at.run()
    assert at.selectbox(key="timeline.source").value == "run:with-snapshots"
    assert list(row(at)) == [2, 4]
    assert "no per-epoch history" in texts(at, "caption")


# ---- Quality ----------------------------------------------------------------------------------

def test_quality_scores_the_book_model_beside_the_real_floor(small_data, tmp_path):
    at = app("views/quality.py", **{"quality.n": 500})
    assert not at.error and not at.warning
    assert at.selectbox(key="model.source").value == "checkpoint:book.pt"
    metrics = {m.label: m.value for m in at.get("metric")}
    fd = float(metrics["Frechet distance"])
    assert np.isfinite(fd) and fd > 5, "the book's MLP samples should sit well above the real floor"
    assert metrics["Classes present"].endswith("/10")
    assert "Real data: **" in texts(at, "caption")

    bars = chart(at, "quality.chart.classes")
    ours = bars["samples"]
    assert list(ours["x"]) == list(CLASS_NAMES)
    assert array(ours["y"]).sum() == pytest.approx(1.0)
    assert len(array(bars["real_mix"]["y"])) == 10

    # The page's numbers are the library's, for the same n and seed.
    data, clf = evaluations.real_data(), evaluations.judge(str(evaluations.classifier_path()),
                                                   evaluations.classifier_path().stat().st_mtime_ns)
    G = load_checkpoint(BOOK).build_generator()
    direct = evaluate_generator(G, clf.model, data.train, data.test, n=500, seed=0,
                                reference=real_reference(clf.model, data.train, data.test, data.test_labels, seed=0))
    assert metrics["Frechet distance"] == f"{direct.frechet_distance:.2f}"

    # Each sample is shown beside the training image the library found nearest to it: regenerated
    # with the library's z, the pair lies at the distance the library measured.
    pairs = {c: u for c, u in images(at).items() if " L2 " in c}
    assert len(pairs) == 8
    shown = evaluations.nearest_pairs(G, 64, direct, data, 8)
    dists = [p.distance for p in shown]
    assert dists == sorted(dists) and dists[0] == pytest.approx(min(direct.nearest_distances))
    for p in shown:
        gap = np.linalg.norm(p.sample / 127.5 - p.train / 127.5)
        assert gap == pytest.approx(p.distance, abs=0.1)   # up to the sample's rounding to bytes

    # A second model costs only its own samples: the real reference is kept across models.
    said = []
    untrained = load_checkpoint(untrained_checkpoint(tmp_path)).build_generator()
    evaluations.evaluate(untrained, 500, 0, data, clf, lambda f, text: said.append(text))
    assert said and not any("real data" in s for s in said)
    said.clear()
    evaluations.evaluate(G, 500, 0, data, clf, lambda f, text: said.append(text))
    assert said == [], "the book model was scored twice"


def collapsed_generator(image):
    """An untrained G made to ignore z: its last layer draws one real image (uint8, 28x28), z moves it by a hair."""
    import torch
    from gan_core import build_generator, GANConfig
    G = build_generator(GANConfig())
    with torch.no_grad():
        G[4].weight.mul_(1e-3)
        G[4].bias.copy_(torch.atanh((torch.as_tensor(image).float().flatten() / 127.5 - 1).clamp(-0.999, 0.999)))
    return G


def test_quality_tells_an_untrained_generator_from_a_collapsed_one(small_data, tmp_path, monkeypatch):
    """Both miss classes; only the collapsed one is called mode collapse (gan_core.verdict, in the page's words)."""
    from gan_core import to_uint8, verdict
    data, clf = evaluations.real_data(), evaluations.judge(str(evaluations.classifier_path()),
                                                   evaluations.classifier_path().stat().st_mtime_ns)
    untrained = load_checkpoint(untrained_checkpoint(tmp_path)).build_generator()
    collapsed = collapsed_generator(to_uint8(data.train[:1], 28)[0])
    book = load_checkpoint(BOOK).build_generator()
    found = {}
    for name, G in (("untrained", untrained), ("collapsed", collapsed), ("book", book)):
        gen, floor = evaluations.evaluate(G, 500, 0, data, clf, lambda f, text: None)
        found[name] = verdict(gen, floor)
        if name != "book":
            assert gen.classes_present < 10, f"the {name} G should miss classes, or the test shows nothing"
    assert found["untrained"].kind == "unformed", found
    assert found["collapsed"].kind == "collapsed", found
    assert found["book"].kind in ("varied", "missing classes"), found

    # The page says it in words: the untrained checkpoint as the only model.
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(tmp_path))
    at = app("views/quality.py", **{"quality.n": 500})
    assert at.selectbox(key="model.source").value == "checkpoint:untrained.pt"
    said = texts(at, "info") + texts(at, "warning")
    assert "Not clothes yet" in said and "Mode collapse" not in said


@pytest.mark.skipif(not hasattr(gan_core.data, "debian_dir"),
                    reason="gan_core.data has no GAN_EXPLORER_DEBIAN_DATA yet: Debian's copy cannot be hidden")
def test_quality_without_data_says_how_to_get_it(clean, monkeypatch, small_data_dir, no_data_set):
    at = app("views/quality.py", **{"quality.n": 500})
    assert not at.exception and not at.error
    assert "apt-get install dataset-fashion-mnist" in texts(at, "warning")
    assert not at.get("metric") and not at.get("plotly_chart")

    at.switch_page("views/latent.py").run()     # the other pages do not need the data
    assert not at.exception and any(c.startswith("D's verdict") for c in images(at))   # the Latent page's picture

    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    at.switch_page("views/quality.py").run()
    at.button(key="quality.look_again").click().run()
    assert not at.warning and "Frechet distance" in {m.label for m in at.get("metric")}


def test_the_timeline_axis_reads_whole_epochs(clean):
    at = app("views/timeline.py")
    spec = json.loads(at.get_by_key("timeline.chart").proto.spec)
    assert spec["layout"]["xaxis"]["ticktext"] == ["1", "2", "5", "10", "20", "50", "100", "200", "500"]


def test_training_uses_a_gpu_when_there_is_one_unless_told(monkeypatch):
    from explorer import env
    monkeypatch.delenv("GAN_EXPLORER_DEVICE", raising=False)
    assert env.training_device() == "auto"
    monkeypatch.setenv("GAN_EXPLORER_DEVICE", "cpu")
    assert env.training_device() == "cpu"
