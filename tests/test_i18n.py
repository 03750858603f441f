"""The app in Korean and English: complete, current catalogs; pages at ?lang=ko with no English left; the language
chosen by link, switch or browser, kept from page to page.

    .venv/bin/pytest tests/test_i18n.py -m "not browser"   # catalogs and AppTest pages, about a minute
    .venv/bin/pytest tests/test_i18n.py -m browser         # ?lang=ko in headless Chromium, with a screenshot
"""
from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
import streamlit as st
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from streamlit.testing.v1 import AppTest

from explorer import charts, i18n
from gan_core import CLASS_NAMES
from helpers import APP, ROOT, chromium, open_app, streamlit_server, untrained_checkpoint

LOCALE = ROOT / "explorer" / "locale"
CATALOGS = sorted(LOCALE.glob("*/LC_MESSAGES/explorer.po"))
TEMPLATE = LOCALE / "explorer.pot"

PAGES = ["views/lesson.py", "views/latent.py", "views/train.py", "views/interpolate.py", "views/timeline.py",
         "views/quality.py", "views/architectures.py", "views/compare.py"]
# Pages whose text is not wrapped in t() yet, and why. Delete a line to check that page too.
NOT_TRANSLATED_YET = {
}


def fields(text: str) -> set[tuple[str, str, str]]:
    """The str.format fields of a message: (name, format spec, conversion); raises ValueError if it does not parse."""
    return {(name, spec or "", conv or "") for _, name, spec, conv in string.Formatter().parse(text)
            if name is not None}


def read(path: Path):
    with open(path, "rb") as f:
        return read_po(f, locale=None if path.suffix == ".pot" else path.parents[1].name)


def extracted() -> set[str | tuple[str, ...]]:
    """The msgids in the code now, found as `pybabel extract -F babel.cfg` finds them."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    inside = ROOT / "explorer"
    # Only explorer/ holds messages: skip the rest of the tree (run folders can hold thousands of files).
    walk_only = lambda d: Path(d) == inside or inside in Path(d).parents  # noqa: E731
    return {m for _, _, m, _, _ in extract_from_dir(str(ROOT), method_map, options_map, directory_filter=walk_only)}


# ---- the catalogs ------------------------------------------------------------------------------

def test_there_is_a_korean_catalog():
    assert LOCALE / "ko" / "LC_MESSAGES" / "explorer.po" in CATALOGS
    assert i18n.languages() == ("en", "ko")
    assert [i18n.language_name(lang) for lang in i18n.languages()] == ["English", "한국어"]


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parents[1].name)
def test_every_message_is_translated_with_the_same_fields(po):
    catalog = read(po)
    problems = []
    for m in catalog:
        if not m.id:
            continue   # the header
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        want = set().union(*(fields(i) for i in ids))
        if m.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        elif not all(forms):
            problems.append(f"untranslated: {ids[0]!r}")
        else:
            for form in forms:
                try:
                    got = fields(form)
                except ValueError as e:
                    problems.append(f"{ids[0]!r}: translation does not parse as str.format ({e})")
                    continue
                if got != want:
                    problems.append(f"{ids[0]!r}: fields {sorted(got)} instead of {sorted(want)}")
    assert len(catalog) > 100
    assert not problems, "\n".join(problems)
    assert catalog.num_plurals >= 1 and i18n.catalog(po.parents[1].name).messages


@pytest.mark.parametrize("path", [TEMPLATE, *CATALOGS],
                         ids=lambda p: p.name if p.suffix == ".pot" else p.parents[1].name)
def test_catalogs_hold_exactly_the_messages_in_the_code(path):
    """As `pybabel extract`, then `pybabel update --ignore-obsolete`, leave them (README, "How to add a translation")."""
    in_code = extracted()
    assert len(in_code) > 100 and "Latent space" in in_code
    catalog = read(path)
    in_catalog = {m.id for m in catalog if m.id}
    missing, gone = in_code - in_catalog, in_catalog - in_code
    assert not missing, f"missing from {path.name}: {sorted(map(str, missing))}"
    assert not gone, f"in {path.name}, no longer in the code: {sorted(map(str, gone))}"
    assert not catalog.obsolete, f"obsolete (#~) entries in {path.name}: {list(catalog.obsolete)}"


def test_the_chart_class_names_are_gan_cores():
    """charts marks Fashion-MNIST's class names for translation: they must be the ones gan_core uses."""
    assert charts.CLASS_LABELS == tuple(CLASS_NAMES)


# ---- pages at ?lang=ko -------------------------------------------------------------------------

@pytest.fixture
def clean(clean, monkeypatch, small_data_dir):
    """conftest's clean app state, with a small real data set."""
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    return clean


def korean(page: str, **state) -> AppTest:
    """The app opened at ?lang=ko, then moved to `page` as a click in the navigation would (the URL's
    parameters cleared), with session state set before that page runs."""
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["lang"] = "ko"
    at.run()
    assert not at.exception, at.exception
    for k, v in state.items():
        at.session_state[k] = v
    at.query_params.clear()
    at.switch_page(page).run()
    return at


# Proto fields that hold words a reader sees (labels, help, bodies, captions, options, progress text).
SHOWN = {"body", "label", "help", "caption", "placeholder", "text", "options", "content", "title"}
# Elements whose words are not the app's: app.py's CSS, and st.text, which the Quality page keeps for the data
# loader's own (English, library) message inside a translated expander.
NOT_APP_TEXT = {"html", "text"}


def _proto_strings(msg):
    for field, value in msg.ListFields():
        values = value if field.is_repeated else [value]
        if field.type == field.TYPE_MESSAGE:
            for v in values:
                yield from _proto_strings(v)
        elif field.type == field.TYPE_STRING and field.name == "spec":
            yield from _plotly_strings(json.loads(value))
        elif field.type == field.TYPE_STRING and field.name in SHOWN:
            yield from values


def _plotly_strings(spec: dict):
    """A Plotly figure's words: titles, axis titles, annotations, trace names, category labels."""
    def title(t):
        return t.get("text", "") if isinstance(t, dict) else t or ""
    layout = spec.get("layout", {})
    yield title(layout.get("title"))
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            yield title(axis.get("title"))
    for note in layout.get("annotations", []):
        yield note.get("text", "")
    for trace in spec.get("data", []):
        yield trace.get("name", "")
        for axis in ("x", "y"):
            if isinstance(trace.get(axis), list):
                yield from (v for v in trace[axis] if isinstance(v, str))


def shown_text(at: AppTest) -> list[str]:
    """Every string the page shows, but the language switch's options (each language named in itself)."""
    out = []

    def visit(node):
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(node, "type", None) not in NOT_APP_TEXT:
            if getattr(node, "key", None) == i18n.SWITCH:
                out.append(node.label)
            else:
                out.extend(_proto_strings(proto))
        for child in getattr(node, "children", {}).values():
            visit(child)

    visit(at._tree)
    return [s for s in out if s.strip()]


# Kept as they are in Korean (the brief's list): symbols of the maths, file formats, names of things.
ALLOWED = ["D(G(z))", "D(x)", "G(z)", "Fashion-MNIST", "GAN Explorer", "GAN", "PNG", "GIF", "CSV", "MLP", "BCE",
           "Adam", "CPU", "GPU", "Ray", "KL", "L2", "lr", "state_dict", "lerp", "slerp", "nat", "SeFa", "JPEG", "DCGAN"]
CODE = re.compile(r"`[^`]*`")                 # Markdown code: commands, paths, settings
ENGLISH = re.compile(r"[A-Za-z]{3,}")


def english_left(text: str, names: set[str]) -> list[str]:
    """Runs of 3+ Latin letters left in `text` once code, file and run names and the allowed tokens are removed."""
    text = CODE.sub(" ", text.replace("\\", "").replace("\u2060", ""))   # plain() escapes what came from files
    for name in sorted(names | set(ALLOWED), key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", " ", text)
    return ENGLISH.findall(text)


def file_names() -> set[str]:
    found = set()
    for p in (ROOT / "checkpoints").iterdir():
        found |= {p.name, p.name + "/"}
    return found


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.skip(reason=NOT_TRANSLATED_YET[p]))
                                  if p in NOT_TRANSLATED_YET else p for p in PAGES])
@pytest.mark.parametrize("scene", ["shipped models", "no models"])
def test_a_korean_page_shows_no_english(clean, monkeypatch, page, scene):
    if scene == "no models":   # a fresh install: what each page says when there is nothing to show
        (clean / "empty").mkdir()
        monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(clean / "empty"))
    at = korean(page, **{"quality.n": 500})
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    shown = shown_text(at)
    assert len(shown) >= 3 and any(re.search("[가-힣]", s) for s in shown)
    left = {s: words for s in shown if (words := english_left(s, file_names()))}
    assert not left, "English on a Korean page:\n" + "\n".join(f"  {words}: {s[:160]!r}" for s, words in left.items())
    if scene == "shipped models" and page == "views/quality.py":   # the chart's words, read from the spec
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        assert spec["layout"]["yaxis"]["title"]["text"] == "이미지 비율" and "운동화" in spec["data"][0]["x"]


def test_the_korean_quality_page_without_data_says_how_to_get_it(clean, monkeypatch, no_data_set):
    at = korean("views/quality.py")
    assert not at.exception and "apt-get install dataset-fashion-mnist" in at.warning[0].value
    left = {s: words for s in shown_text(at) if (words := english_left(s, file_names()))}
    assert not left, left


def test_the_english_page_is_unchanged_without_a_language(clean):
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page("views/interpolate.py").run()
    assert not at.exception
    assert at.title[0].value == "Interpolate" and "lang" not in at.query_params
    assert at.segmented_control(key=i18n.SWITCH).value == "en"


# ---- which language, and keeping it -----------------------------------------------------------

def title(at: AppTest) -> str:
    return at.title[0].value


@pytest.fixture
def browser_locale(monkeypatch):
    """Pretend the browser says it reads `locale` (st.context.locale, navigator.language)."""
    def use(locale: str | None):
        monkeypatch.setattr(type(st.context), "locale", property(lambda self: locale))
    return use


def test_the_language_comes_from_the_link_then_the_switch_then_the_browser_then_english(clean, browser_locale):
    def opened(lang: str | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=90)
        if lang:
            at.query_params["lang"] = lang
        at.run()
        return at.switch_page("views/interpolate.py").run()

    browser_locale(None)
    assert title(opened()) == "Interpolate"                 # nothing said: English
    browser_locale("fr-FR")
    assert title(opened()) == "Interpolate"                 # a language without a catalog: English
    browser_locale("ko-KR")
    at = opened()
    assert title(at) == "보간" and "lang" not in at.query_params   # the browser's, not written to the URL
    assert title(opened("en")) == "Interpolate"             # the link beats the browser

    # The switch beats the browser, and writes the URL, so a copied link says the same.
    at = opened()
    at.segmented_control(key=i18n.SWITCH).set_value("en").run()
    assert title(at) == "Interpolate" and at.query_params["lang"] == "en"
    # A link beats the switch: ?lang in a URL opened later in the same session.
    at.query_params["lang"] = "ko"
    at.run()
    assert title(at) == "보간" and at.segmented_control(key=i18n.SWITCH).value == "ko"
    # An unknown ?lang is ignored.
    browser_locale(None)
    assert title(opened("xx")) == "Interpolate"


def test_the_language_follows_the_user_to_every_page(clean):
    """Streamlit clears the URL's parameters when the user moves to another page: the app writes ?lang back."""
    at = korean("views/timeline.py", **{"quality.n": 500})   # the Quality page's scoring is not what is tested here
    assert title(at) == "타임라인" and at.query_params["lang"] == "ko"
    for page, expected in (("views/quality.py", "품질"), ("views/interpolate.py", "보간")):
        at.query_params.clear()
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert title(at) == expected and at.query_params["lang"] == "ko"
    # Chosen with the switch instead: the same.
    at.segmented_control(key=i18n.SWITCH).set_value("en").run()
    at.query_params.clear()
    at.switch_page("views/timeline.py").run()
    assert title(at) == "Timeline" and at.query_params["lang"] == "en"


def test_translations_outside_a_page_and_broken_ones_fall_back_to_english():
    """Outside a script run (a figure built in a test, a worker) t() speaks English; a translation whose
    fields do not match shows the English rather than failing."""
    assert i18n.t("Real data: **{value}**. {meaning}", value=1, meaning="x") == "Real data: **1**. x"
    assert i18n.tn("{where}, {n:,} epoch", "{where}, {n:,} epochs", 1, where="a") == "a, 1 epoch"
    assert i18n.tn("{where}, {n:,} epoch", "{where}, {n:,} epochs", 2000, where="a") == "a, 2,000 epochs"
    assert i18n._format("{missing} 필드", "{value} ok", {"value": 3}) == "3 ok"


# ---- a real browser ----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(240)
def test_korean_in_a_real_browser_across_pages(tmp_path, small_data_dir):
    """?lang=ko in headless Chromium: Korean navigation and page, still Korean after a click on another page;
    the sidebar switch turns it English and says so in the URL."""
    untrained_checkpoint(tmp_path / "checkpoints")
    env = {"GAN_EXPLORER_RUNS": str(tmp_path / "runs"), "GAN_EXPLORER_CHECKPOINTS": str(tmp_path / "checkpoints"),
           "GAN_EXPLORER_DATA": str(small_data_dir)}
    with streamlit_server(env, tmp_path / "server.log") as url, chromium() as page:
        open_app(page, f"{url}/?lang=ko")
        nav = page.locator("[data-testid=stSidebarNav]")
        nav.get_by_text("잠재 공간", exact=True).wait_for(timeout=60_000)
        assert nav.get_by_text("Latent space").count() == 0
        page.get_by_role("heading", name="모델").wait_for(timeout=60_000)   # the sidebar's model picker

        nav.get_by_role("link", name="보간").click()
        page.wait_for_url(re.compile(r"/interpolate\?lang=ko(&|$)"), timeout=60_000)   # then the page's own state
        page.get_by_role("heading", name="보간", exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("프레임별로 보기").wait_for(timeout=60_000)
        assert page.get_by_text("Frame by frame").count() == 0
        page.screenshot(path=str(tmp_path / "interpolate-ko.png"), full_page=True)   # Hangul needs fonts-nanum
        assert (tmp_path / "interpolate-ko.png").stat().st_size > 10_000

        page.locator("[data-testid=stSidebar]").get_by_role("radio", name="English").click()
        page.get_by_text("Frame by frame").wait_for(timeout=60_000)
        page.wait_for_url(re.compile(r"/interpolate\?lang=en(&|$)"), timeout=60_000)
        assert nav.get_by_text("Latent space", exact=True).count() == 1
