"""Sample-quality metrics: closed forms, the shipped classifier, real data against an untrained G, the CLI."""
from __future__ import annotations

import math

import pytest
import torch

from gan_core import GANConfig, Trainer, build_models, save_checkpoint
from gan_core.fashion_classifier import (DEFAULT_CLASSIFIER_PATH, ClassifierError, build_classifier, classifier_accuracy,
                                 load_classifier, save_classifier)
from gan_core.cli.common import run_main
from gan_core.evaluate import main as evaluate_main
from gan_core.quality import (class_histogram, classifier_score, evaluate_generator, evaluate_real_floor,
                              feature_statistics, frechet_distance, kl_divergence, nearest_train, real_reference)

f64 = torch.float64


@pytest.fixture(scope="module")
def classifier():
    return load_classifier().build()


@pytest.fixture(scope="module")
def reference(classifier, fashion_train, fashion_test):
    return real_reference(classifier, fashion_train[0], fashion_test[0], fashion_test[1], seed=0)


# ---- Frechet distance against independent formulas ----------------------------------------

def test_frechet_distance_diagonal_closed_form():
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(6, generator=g, dtype=f64), torch.randn(6, generator=g, dtype=f64)
    s1, s2 = torch.rand(6, generator=g, dtype=f64) + 0.1, torch.rand(6, generator=g, dtype=f64) * 3
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * (s1 * s2).sqrt()).sum()
    assert frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(expected.item(), rel=1e-10)
    # One dimension by hand: N(0, 4) vs N(3, 1) -> 9 + (2 - 1)^2.
    assert frechet_distance(torch.zeros(1), torch.full((1, 1), 4.0), torch.full((1,), 3.0), torch.ones(1, 1)) \
        == pytest.approx(10.0, rel=1e-12)


def test_frechet_distance_full_covariances_matches_eigenvalues_of_product():
    # tr(sqrt(S1 S2)) is also the sum of sqrt of the (real, non-negative) eigenvalues of the
    # non-symmetric product S1 S2, found by a general eigensolver.
    g = torch.Generator().manual_seed(1)
    A, B = torch.randn(8, 8, generator=g, dtype=f64), torch.randn(8, 5, generator=g, dtype=f64)
    S1, S2 = A @ A.T + 0.1 * torch.eye(8, dtype=f64), B @ B.T      # S2 is singular (rank 5)
    mu1, mu2 = torch.randn(8, generator=g, dtype=f64), torch.randn(8, generator=g, dtype=f64)
    ev = torch.linalg.eigvals(S1 @ S2)
    assert ev.imag.abs().max() < 1e-8
    expected = ((mu1 - mu2) ** 2).sum() + S1.trace() + S2.trace() - 2 * ev.real.clamp(min=0).sqrt().sum()
    fd = frechet_distance(mu1, S1, mu2, S2)
    # Rank-deficient S2 (as ReLU features can give) leaves eigenvalues near 0, whose square roots
    # magnify float64 rounding to about 1e-8: the two routes agree to that.
    assert fd == pytest.approx(expected.item(), rel=1e-7)
    assert frechet_distance(mu2, S2, mu1, S1) == pytest.approx(fd, rel=1e-7)   # a distance is symmetric
    assert frechet_distance(mu1, S1, mu1, S1) == pytest.approx(0.0, abs=1e-9)


def test_feature_statistics_match_torch_cov():
    x = torch.randn(300, 7, generator=torch.Generator().manual_seed(2))
    mu, cov = feature_statistics(x)
    assert torch.allclose(mu, x.double().mean(0)) and torch.allclose(cov, torch.cov(x.double().T))


# ---- class mix, score, nearest neighbours --------------------------------------------------

def test_class_mix_and_score_on_known_predictions():
    confident = torch.eye(10, dtype=f64).repeat(5, 1)              # 50 images, 5 of each class, certain
    assert classifier_score(confident) == pytest.approx(10.0)
    assert kl_divergence(class_histogram(confident), torch.full((10,), 0.1, dtype=f64)) == pytest.approx(0.0, abs=1e-12)
    collapsed = torch.zeros(50, 10, dtype=f64)
    collapsed[:, 3] = 1                                             # every image the same class
    assert classifier_score(collapsed) == pytest.approx(1.0)
    assert kl_divergence(class_histogram(collapsed), torch.full((10,), 0.1, dtype=f64)) == pytest.approx(math.log(10))


def test_nearest_train_matches_cdist_and_finds_copies():
    g = torch.Generator().manual_seed(3)
    train = torch.rand(1000, 784, generator=g) * 2 - 1
    queries = torch.cat([torch.rand(20, 784, generator=g) * 2 - 1, train[[17, 503]]])
    dist, idx = nearest_train(queries, train, chunk=300)            # chunks that do not divide 1000
    full = torch.cdist(queries.double(), train.double())
    assert torch.equal(idx, full.argmin(1))
    assert torch.allclose(dist.double(), full.min(1).values, atol=1e-4)
    assert idx[-2:].tolist() == [17, 503] and dist[-2:].abs().max() < 1e-6   # exact copies found, distance 0


# ---- the shipped classifier ----------------------------------------------------------------

def test_shipped_classifier_is_small_and_accurate(classifier, fashion_test):
    assert DEFAULT_CLASSIFIER_PATH.stat().st_size < 2 * 2**20
    x, y = fashion_test
    assert classifier_accuracy(classifier, x[:2000], y[:2000]) >= 0.88
    assert load_classifier().test_accuracy >= 0.90


def test_classifier_file_round_trip_and_refusals(tmp_path, fashion_test):
    model = build_classifier()
    path = save_classifier(tmp_path / "c.pt", model, 0.5, {"note": "untrained"})
    ck = load_classifier(path)
    x = fashion_test[0][:8]
    assert torch.equal(ck.build()(x), model.eval()(x)) and ck.test_accuracy == 0.5

    def refused(obj, match):
        p = tmp_path / "bad.pt"
        torch.save(obj, p)
        with pytest.raises(ClassifierError, match=match):
            load_classifier(p)

    good = torch.load(path, weights_only=True)
    refused({**good, "format": "something else"}, "not a GAN Explorer classifier")
    nan_sd = {**good["state_dict"], "fc.bias": torch.full_like(good["state_dict"]["fc.bias"], float("nan"))}
    refused({**good, "state_dict": nan_sd}, "NaN")
    refused({**good, "config": {**good["config"], "feature_dim": 64}}, "shape")
    refused({**good, "test_accuracy": 3.0}, "not a fraction")
    refused({**good, "meta": {"hook": print}}, "refused, it holds Python objects")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ClassifierError, match="not a readable"):
        load_classifier(tmp_path / "junk.pt")


# ---- evaluations on real data ----------------------------------------------------------------

def test_real_floor_is_covered_and_far_below_an_untrained_generator(classifier, reference, fashion_train, fashion_test):
    x, xt = fashion_train[0], fashion_test[0]
    floor = evaluate_real_floor(classifier, x, xt, n=2000, seed=0, reference=reference)
    assert floor.classes_present == 10 and floor.class_kl < 0.01
    assert floor.classifier_score > 7
    assert floor.frechet_distance < 2
    assert floor.nearest_median == floor.test_nearest_median > 3    # test images are not copies of train ones

    G = build_models(GANConfig())[0].eval()                           # untrained: noise-like images
    gen = evaluate_generator(G, classifier, x, xt, n=2000, seed=0, reference=reference)
    assert gen.frechet_distance > 50 * floor.frechet_distance
    assert gen.classes_present < 10 and gen.class_kl > 0.5 and gen.classifier_score < 2


def test_evaluate_is_reproducible_under_a_seed(classifier, fashion_train, fashion_test):
    G = build_models(GANConfig(seed=5))[0]
    x, xt = fashion_train[0], fashion_test[0][:1000]
    seen = []
    args = (G, classifier, x, xt)
    a = evaluate_generator(*args, n=300, seed=7, progress=lambda f, msg: seen.append(f), memorisation_samples=50)
    b = evaluate_generator(*args, n=300, seed=7, memorisation_samples=50)
    c = evaluate_generator(*args, n=300, seed=8, memorisation_samples=50)
    assert a == b
    # (An untrained G's blurry samples all share one nearest train image, so compare distances.)
    assert a.frechet_distance != c.frechet_distance and a.nearest_distances != c.nearest_distances
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 <= seen[0] < 0.5


# ---- the command line ------------------------------------------------------------------------

def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as e:
        run_main(evaluate_main, argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.slow
def test_evaluate_cli_end_to_end(tmp_path, capsys, fashion_train):
    trainer = Trainer(GANConfig(), fashion_train[0], device="cpu")
    project = save_checkpoint(tmp_path / "run.pt", trainer.state_dict())
    code, out, err = run_cli(["--checkpoint", str(project), "--n", "300", "--seed", "1"], capsys)
    assert code == 0, err
    for words in ("Frechet distance", "classes present", "classifier score", "nearest train L2", "real floor",
                  "Ankle boot", "epoch 0"):
        assert words in out
    # An untrained G misses classes, yet it is not called collapsed: the verdict names it for what it is.
    assert "verdict: unformed" in out and "mode collapse" not in out

    book = tmp_path / "book-g.pt"
    torch.save(trainer.G.state_dict(), book)
    code, out, err = run_cli(["--checkpoint", str(book), "--n", "300", "--no-floor"], capsys)
    assert code == 0, err
    assert "book-style state_dict" in out and "not computed" in out and "verdict:" not in out   # it needs the floor

    code, out, err = run_cli(["--checkpoint", str(tmp_path / "missing.pt")], capsys)
    assert code == 2 and "no such file" in err and len(err.strip().splitlines()) == 1
