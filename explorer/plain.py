"""Text that came from outside (a URL, a file name, a file's contents, a user) shown as the characters it holds.

Streamlit renders st.error, st.warning, st.info, st.caption and st.markdown as Markdown: a run
name like `**Urgent** [log in here](http://...)` from a shared link would show a bold line and
a working link (or an image that loads itself) in the teacher's own app. `plain()` escapes
every ASCII punctuation character, which CommonMark then prints literally: no emphasis, link,
image, HTML, math ($), emoji or icon shortcode (:name:) can start. GitHub-style autolinks
(http://..., www...., a@b.c) are found in the rendered text however it was escaped, so an
invisible word joiner (U+2060) goes inside each of those patterns to break them.
"""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_AUTOLINK = re.compile(r"(?i)(:\\/|www(?=\\\.)|(?=\\@))")   # after escaping: "://", "www.", "@"
_JOINER = "\u2060"


def plain(text: object, limit: int = 300) -> str:
    """`text` cut to `limit` characters, on one line, safe to put inside Streamlit Markdown."""
    s = " ".join(str(text).split())   # newlines would start new Markdown blocks
    if len(s) > limit:
        s = s[:limit] + "…"
    s = _PUNCTUATION.sub(r"\\\1", s)
    return _AUTOLINK.sub(lambda m: m.group() + _JOINER, s)
