"""The model picker: uploads kept on the server, the pick kept in the URL (?model=KEY), run titles in its labels."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import re

import pytest
import torch

import hostile_files as hostile
from explorer import uploads
from gan_core import CheckpointError, GANConfig, RunFolder, build_generator
from gan_core.run_folder import Recording
from helpers import (APP, app, chromium, image_captions, open_app, shown, streamlit_server, texts, untrained_checkpoint,
                     wait_until)


def book_g(hidden: int = 256, seed: int = 0) -> bytes:
    """What the book's readers save: a bare G.state_dict() (a smaller G with a smaller hidden layer)."""
    torch.manual_seed(seed)
    buf = io.BytesIO()
    torch.save(build_generator(GANConfig(hidden_dim=hidden)).state_dict(), buf)
    return buf.getvalue()


@pytest.fixture
def picker(clean, monkeypatch):
    """An empty runs folder, one ready-made checkpoint (untrained.pt), and uploads kept in clean/uploads."""
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(untrained_checkpoint(clean / "ck").parent))
    return clean


def fresh(query: dict | None = None, page: str = "views/latent.py"):
    """A new session (a reload, or a shared link opened elsewhere) with this URL's parameters."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at, name: str, data: bytes) -> None:
    at.file_uploader(key="model.file").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception


# ---- kept on the server, found again by URL --------------------------------------------------------

def test_an_upload_is_kept_and_a_reload_or_a_shared_link_finds_it(picker):
    data = book_g(seed=1)
    digest = hashlib.sha256(data).hexdigest()
    at = app()
    upload(at, "Mina's *G* [v2].pt", data)
    key = f"upload:{digest}"
    assert at.selectbox(key="model.source").value == key
    assert at.query_params["model"] == key                      # the URL names it
    assert (picker / "uploads" / f"{digest}.pt").read_bytes() == data   # stored by content, next to the runs folder

    again = fresh({"model": key})                               # a reload: a new session, the same URL
    box = again.selectbox(key="model.source")
    assert box.value == key
    assert "uploaded: Mina's *G* [v2].pt" in box.options        # under the name it was uploaded as
    assert not again.get("warning")
    assert "uploaded: Mina's *G* [v2].pt, book state_dict" in shown(image_captions(again)[0])


def test_the_same_file_twice_is_kept_once_and_a_new_session_lists_every_upload(picker):
    at = app()
    upload(at, "a.pt", book_g(seed=1))
    upload(at, "b.pt", book_g(seed=2))
    upload(at, "a again.pt", book_g(seed=1))
    assert len(list((picker / "uploads").glob("*.pt"))) == 2
    options = fresh().selectbox(key="model.source").options
    assert options[0] == "untrained.pt"
    assert options[1:] == ["uploaded: a again.pt", "uploaded: b.pt"]   # newest first; a renamed by its last upload


def test_a_link_to_an_upload_that_is_gone_says_so_in_one_line_and_shows_the_default(picker):
    at = fresh({"model": "upload:" + "0" * 64})
    warnings = [shown(w.value) for w in at.get("warning")]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "upload:000000000000…" in warnings[0] and "untrained.pt" in warnings[0]
    assert at.selectbox(key="model.source").value == "checkpoint:untrained.pt"
    assert at.query_params["model"] == "checkpoint:untrained.pt"   # the URL now names what is shown
    at.run()
    assert len(at.get("warning")) == 1                              # said until the user picks
    upload(at, "g.pt", book_g())
    assert not at.get("warning")


def test_a_link_to_a_deleted_run_and_a_run_deleted_while_picked_say_so(picker):
    run = fake_run(picker / "runs" / "tuesday")
    at = fresh({"model": "run:tuesday"})
    assert at.selectbox(key="model.source").value == "run:tuesday" and not at.get("warning")
    import shutil
    shutil.rmtree(run.path)
    at.run()
    assert at.selectbox(key="model.source").value == "checkpoint:untrained.pt"
    assert "run:tuesday" in texts(at, "warning")
    gone = fresh({"model": "run:nosuchrun"})
    assert "run:nosuchrun" in texts(gone, "warning")


def test_hostile_and_broken_uploads_are_refused_in_one_line_and_nothing_is_kept(picker):
    marker = picker / "ran"

    class Runs:   # a pickle that would run a shell command when loaded with pickle.load
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    at = app()
    for name, data in (("evil.pt", hostile.torch_zip(pickle.dumps(Runs(), protocol=2))),
                       ("deep.pt", hostile.deep_nesting(1_000_000)),
                       ("notes.pt", b"not a checkpoint")):
        upload(at, name, data)
        errors = [shown(e.value) for e in at.sidebar.get("error")]
        assert len(errors) == 1 and errors[0].startswith(name) and "\n" not in errors[0]
        assert at.selectbox(key="model.source").value == "checkpoint:untrained.pt"
    assert not marker.exists()
    assert not list(picker.glob("uploads/*"))


def test_an_upload_bigger_than_the_uploads_folder_may_hold_is_refused_in_one_line(picker, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_UPLOADS_MB", "1")
    data = book_g()   # about 1.1 MB
    assert len(data) > 2**20
    at = app()
    upload(at, "big.pt", data)
    errors = [shown(e.value) for e in at.sidebar.get("error")]
    assert len(errors) == 1 and "big.pt" in errors[0] and "1 MB" in errors[0] and "\n" not in errors[0]
    assert not list(picker.glob("uploads/*"))


def test_the_uploads_folder_keeps_its_total_by_evicting_the_oldest(tmp_path):
    folder = tmp_path / "uploads"
    files = [book_g(hidden=16, seed=s) for s in range(4)]
    size = len(files[0])
    assert all(len(f) == size for f in files)
    cap = 2 * size + size // 2                        # room for two
    stored = [uploads.store(folder, f"g{i}.pt", f, 10 * size, cap) for i, f in enumerate(files[:2])]
    os.utime(stored[0].path, (1, 1))                  # g0 is the older (mtimes can tie within a test)
    os.utime(stored[1].path, (2, 2))
    uploads.store(folder, "g0 again.pt", files[0], 10 * size, cap)   # renewed: now the newest
    uploads.store(folder, "g2.pt", files[2], 10 * size, cap)         # evicts g1, the oldest now
    assert [u.name for u in uploads.listing(folder)] == ["g2.pt", "g0 again.pt"]
    assert sum(p.stat().st_size for p in folder.glob("*.pt")) <= cap
    assert uploads.find(folder, stored[1].digest) is None and not list(folder.glob(f"{stored[1].digest}*"))

    with pytest.raises(uploads.UploadTooLarge):       # the per-file cap
        uploads.store(folder, "g3.pt", files[3], size - 1, cap)
    with pytest.raises(CheckpointError):
        uploads.store(folder, "junk.pt", b"junk" * 100, 10 * size, cap)
    assert len(list(folder.glob("*.pt"))) == 2 and not list(folder.glob(".*"))   # nothing half-written
    assert uploads.find(folder, "../../etc/passwd") is None


def test_an_uploaded_name_is_kept_on_one_line_without_folders():
    assert uploads._clean_name("C:\\Users\\x\\evil\n\u202emodel.pt") == "evil model.pt"
    assert uploads._clean_name("") == "upload.pt" and len(uploads._clean_name("x" * 500)) == uploads.NAME_MAX


# ---- run titles ---------------------------------------------------------------------------------

def fake_run(path, epochs: int = 3, seed: int = 5) -> RunFolder:
    """A run folder as the trainer leaves it after one epoch, its checkpoint an untrained G and D."""
    run = RunFolder(path)
    untrained_checkpoint(path)
    (path / "untrained.pt").rename(run.checkpoint)
    run.write_settings(GANConfig(epochs=epochs, seed=seed), Recording())
    run.write_status("finished", epoch=1, epochs=epochs)
    return run


def test_the_picker_shows_a_runs_title_and_a_new_title_on_the_next_rerun(picker):
    run = fake_run(picker / "runs" / "r20261129")
    at = app()
    label = dict(zip(["checkpoint:untrained.pt", "run:r20261129"], at.selectbox(key="model.source").options))
    assert label["run:r20261129"].startswith("The book's recipe · 3 epochs · seed 5 · epoch 1/3 · finished")
    assert "r20261129" not in label["run:r20261129"]
    run.write_title("Tuesday's class")                # as the Train page would, in another session
    at.run()
    assert at.selectbox(key="model.source").options[1] == "Tuesday's class · epoch 1/3 · finished"


def test_runs_that_share_a_title_are_told_apart_by_their_ids(picker):
    fake_run(picker / "runs" / "monday")
    fake_run(picker / "runs" / "tuesday")
    options = app().selectbox(key="model.source").options
    assert sorted(options[1:]) == ["The book's recipe · 3 epochs · seed 5 · epoch 1/3 · finished · monday",
                                   "The book's recipe · 3 epochs · seed 5 · epoch 1/3 · finished · tuesday"]


# ---- in a real browser ----------------------------------------------------------------------------

@pytest.mark.slow
def test_an_uploaded_checkpoint_is_still_picked_after_a_reload(picker, tmp_path):
    ck = picker / "Mina's G.pt"
    ck.write_bytes(book_g(seed=3))
    env = {"GAN_EXPLORER_RUNS": str(picker / "runs"), "GAN_EXPLORER_CHECKPOINTS": str(picker / "ck")}
    with streamlit_server(env, tmp_path / "server.log") as url, chromium(1024, 768) as page:
        open_app(page, f"{url}/latent")
        page.get_by_text("Upload a checkpoint").click()
        page.locator("[data-testid=stSidebar] input[type=file]").set_input_files(str(ck))
        page.wait_for_url(re.compile(r"model=upload%3A[0-9a-f]{64}|model=upload:[0-9a-f]{64}"), timeout=60_000)
        picked = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox] input").first
        wait_until(lambda: picked.input_value() == "uploaded: Mina's G.pt", "the upload to be picked", 60)
        key = re.search(r"model=upload(?:%3A|:)([0-9a-f]{64})", page.url).group(1)
        assert (picker / "uploads" / f"{key}.pt").read_bytes() == ck.read_bytes()
        # Another page keeps the pick and writes it back into its URL (Streamlit clears parameters on a page switch).
        page.locator("[data-testid=stSidebarNav] a", has_text="Interpolate").click()
        page.wait_for_url(re.compile(r"/interpolate\?.*model=upload"), timeout=60_000)
        page.reload()
        page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=60_000)
        picked = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox] input").first
        wait_until(lambda: picked.input_value() == "uploaded: Mina's G.pt", "the upload to be picked after a reload", 60)
        assert key in page.url and "interpolate" in page.url
        page.screenshot(path=str(tmp_path / "upload-after-reload.png"))   # for a person to look at
