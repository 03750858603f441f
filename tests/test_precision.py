"""bf16: where it is offered (gan_core.precision), that a refusal is one line and writes nothing, and that
a bf16 step is the fp32 step up to bfloat16's rounding."""
from __future__ import annotations

import itertools

import pytest
import torch

from gan_core import ConfigError, GANConfig, StepEvent, Trainer, build_models, gan_step, precision
from gan_core.cli import train as train_cli
from gan_core.step import make_optimizers


def cpuinfo(tmp_path, monkeypatch, flags: str | None):
    """Point gan_core.precision at a /proc/cpuinfo with these flags (None: no file at all)."""
    path = tmp_path / "cpuinfo"
    if flags is not None:
        path.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\n\n")
    monkeypatch.setattr(precision, "CPUINFO", path)


@pytest.mark.parametrize("flags,ok", [("fpu sse2 avx2 fma", False), ("fpu avx2 avx512f avx512_bf16", True),
                                      ("fpu avx2 amx_bf16 amx_tile", True), (None, False)])
def test_bf16_available_reads_the_cpu_flags(tmp_path, monkeypatch, flags, ok):
    cpuinfo(tmp_path, monkeypatch, flags)
    available, why = precision.bf16_available("cpu")
    assert available is ok
    assert (why == "") is ok and "\n" not in why
    if not ok:
        assert "AVX512-BF16 or AMX" in why


def test_bf16_refused_where_it_does_not_pay(tmp_path, monkeypatch):
    cpuinfo(tmp_path, monkeypatch, "fpu avx2")
    images = torch.zeros(200, 784)
    with pytest.raises(ConfigError, match="AVX512-BF16"):
        Trainer(GANConfig(epochs=1), images, "cpu", precision="bf16")
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16"):
        Trainer(GANConfig(epochs=1), images, "cpu", precision="fp16")
    assert Trainer(GANConfig(epochs=1), images, "cpu").precision == "fp32"
    # The CLI refuses before it writes anything.
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="AVX512-BF16"):
        train_cli.main(["--out", str(out), "--device", "cpu", "--precision", "bf16", "--quiet"])
    assert not out.exists()


def test_bf16_step_is_the_fp32_step_up_to_rounding(fashion_train):
    """Five steps from the same weights, batches and z: bf16's numbers and weights stay near fp32's, yet differ
    (the GEMMs really ran in bfloat16). This checks the maths on any CPU; speed needs native bfloat16."""
    cfg = GANConfig()
    runs = {}
    for prec in ("fp32", "bf16"):
        G, D = build_models(cfg)
        opt_g, opt_d = make_optimizers(G, D, cfg)
        gen = torch.Generator().manual_seed(0)
        rows = [gan_step(G, D, opt_g, opt_d, fashion_train[0][i * 100:(i + 1) * 100],
                         torch.randn(100, 64, generator=gen), precision=prec) for i in range(5)]
        runs[prec] = torch.stack(rows), G, D
        assert all(p.dtype == torch.float32 for p in [*G.parameters(), *D.parameters()])
        assert all(st["exp_avg"].dtype == torch.float32 for st in opt_g.state.values())
    (r32, G32, D32), (r16, G16, D16) = runs["fp32"], runs["bf16"]
    assert torch.allclose(r16, r32, rtol=0.05, atol=0.01), (r16 - r32).abs().max()
    for a, b in ((G16, G32), (D16, D32)):
        for (k, p16), p32 in zip(a.state_dict().items(), b.state_dict().values()):
            rel = ((p16 - p32).norm() / p32.norm()).item()
            assert rel < 0.02, k
    assert (r16 - r32).abs().max() > 1e-5   # not fp32 under another name


@pytest.mark.slow
@pytest.mark.skipif(not precision.bf16_available("cpu")[0], reason=precision.bf16_available("cpu")[1])
def test_bf16_training_runs_close_to_fp32(fashion_train):
    """A Trainer with precision bf16 trains 50 steps on the real data, and its numbers follow fp32's."""
    cfg = GANConfig(epochs=1)
    rows = {}
    for prec in ("fp32", "bf16"):
        trainer = Trainer(cfg, fashion_train[0][:6000], "cpu", precision=prec)
        events = itertools.islice((e for e in trainer.run() if isinstance(e, StepEvent)), 50)
        rows[prec] = torch.tensor([[e.d_loss, e.g_loss, e.d_x, e.d_g_z] for e in events])
    assert torch.isfinite(rows["bf16"]).all()
    # Means over the last 10 steps: single steps of a GAN are noisy, the trend is what must agree.
    assert torch.allclose(rows["bf16"][-10:].mean(0), rows["fp32"][-10:].mean(0), rtol=0.1, atol=0.05)


def test_a_runs_precision_is_kept_in_its_folder_and_a_continue_keeps_it(tmp_path):
    """The app starts a run by writing its settings, and Continue passes only --resume: the folder says bf16."""
    from gan_core import RunFolder
    from gan_core.run_folder import Recording
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_settings(GANConfig(epochs=2), Recording(precision="bf16"))
    assert run.read_settings()[1].precision == "bf16"
    args = train_cli.parse_args(["--out", str(run.path), "--resume"])
    assert train_cli.settings(args, run, None)[1].precision == "bf16"
    args = train_cli.parse_args(["--out", str(run.path), "--precision", "fp32"])   # a flag says otherwise
    assert train_cli.settings(args, run, None)[1].precision == "fp32"
    # Older folders, written before precision was kept, train in fp32; a value from nowhere is refused.
    run.settings_file.write_text(run.settings_file.read_text().replace(', "precision": "bf16"', ""))
    assert run.read_settings()[1].precision == "fp32"
    run.settings_file.write_text(run.settings_file.read_text().replace('"disk_budget_mb"', '"precision": "fp8", '
                                                                        '"disk_budget_mb"'))
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, got 'fp8'"):
        run.read_settings()
    # The DCGAN trains in fp32 only: said before anything is written.
    out = tmp_path / "dc"
    with pytest.raises(ConfigError, match="the DCGAN trains in fp32"):
        train_cli.main(["--out", str(out), "--arch", "dcgan", "--precision", "bf16", "--device", "cpu", "--quiet"])
    assert not out.exists()


@pytest.mark.slow   # Start launches a trainer
def test_the_train_page_offers_bf16_only_where_it_pays_and_a_run_keeps_it(tmp_path, monkeypatch, clean):
    import json
    from streamlit.testing.v1 import AppTest
    from helpers import APP, texts
    runs = clean / "runs"
    runs.mkdir(exist_ok=True)
    monkeypatch.setenv("GAN_EXPLORER_DEVICE", "cpu")

    def page():
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.query_params["epochs"] = "1"
        at.switch_page("views/train.py").run()
        assert not at.exception, at.exception
        return at

    cpuinfo(tmp_path, monkeypatch, "fpu sse2 avx2 fma")          # this project's CPUs: no native bfloat16
    at = page()
    assert at.toggle(key="train.bf16").disabled and at.toggle(key="train.bf16").value is False
    assert "AVX512-BF16 or AMX" in texts(at, "caption")
    cpuinfo(tmp_path, monkeypatch, "fpu avx2 avx512f avx512_bf16")   # the EPYC
    at = page()
    assert not at.toggle(key="train.bf16").disabled
    at.radio(key="train.arch").set_value("dcgan").run()
    assert at.toggle(key="train.bf16").disabled and "The DCGAN trains in fp32 only." in texts(at, "caption")
    at.radio(key="train.arch").set_value("mlp").run()
    at.toggle(key="train.bf16").set_value(True).run()
    at.button(key="train.start").click().run()
    # The run's folder says bf16, so its trainer (and a Continue, which passes only --resume) computes so. On a
    # CPU without native bfloat16 that trainer then refuses, in one line, as the CLI does.
    settings = json.loads((runs / at.session_state["train.run"] / "settings.json").read_text())
    assert settings["recording"]["precision"] == "bf16" and settings["config"]["epochs"] == 1


def test_a_preset_in_bfloat16_is_still_that_preset():
    from dataclasses import replace
    from explorer.training_form import CUSTOM, PRESETS, matching_preset
    assert matching_preset(replace(PRESETS["book"].settings, precision="bf16")) == "book"
    assert matching_preset(replace(PRESETS["book"].settings, precision="bf16", seed=3)) == CUSTOM
