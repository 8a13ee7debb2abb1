"""Turn markup (HTML, MediaWiki, POD) into clean prose paragraphs, one paragraph per string.

Pretraining wants running prose, so every converter keeps paragraph text and drops navigation,
code blocks, tables and list debris. Paragraphs never contain newlines: a document's text is its
paragraphs joined by "\n".
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_WHITESPACE = re.compile(r"\s+")

# Footers and navigation text that survive the structural filters on some doc sites.
_BOILERPLATE = re.compile(
    r"^(copyright\b|©|\(c\) \d{4}|all rights reserved|last (updated|modified)|created using sphinx|"
    r"generated (by|on)|built with sphinx|previous topic|next topic|show source|"
    r"report a bug|quick search|permalink)",
    re.IGNORECASE,
)


def normalize_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def decode_bytes(data: bytes) -> str:
    """UTF-8 when it is (nearly every page is); cp1252 for the odd legacy page."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def is_prose(paragraph: str, *, min_words: int = 5, min_letter_share: float = 0.6,
             min_latin_share: float = 0.8) -> bool:
    """True for an English-looking paragraph worth pretraining on: long enough, mostly letters,
    mostly ASCII letters (drops CJK translations), not boilerplate."""
    if len(paragraph.split()) < min_words:
        return False
    visible = sum(1 for ch in paragraph if not ch.isspace())
    letters = sum(1 for ch in paragraph if ch.isalpha())
    if visible == 0 or letters / visible < min_letter_share:
        return False
    ascii_letters = sum(1 for ch in paragraph if ch.isascii() and ch.isalpha())
    if ascii_letters / letters < min_latin_share:
        return False
    return _BOILERPLATE.match(paragraph) is None


# --- HTML -----------------------------------------------------------------------------------------

# Whole subtrees we never read: scripts, navigation, code blocks, drawings, forms.
_SKIP_TAGS = {"script", "style", "nav", "header", "footer", "aside", "pre", "svg", "math", "noscript",
              "template", "button", "select", "textarea", "form", "iframe", "object", "head"}
# Class tokens of navigation / code containers used by Sphinx, DocBook, qdoc and the SQLite site.
_SKIP_CLASSES = {"navheader", "navfooter", "footer", "related", "sphinxsidebar", "wy-nav-side",
                 "wy-nav-top", "wy-breadcrumbs", "rst-footer-buttons", "breadcrumb", "breadcrumbs",
                 "menu", "searchmenu", "fancy_toc", "toc", "toctree-wrapper", "highlight", "sidebar",
                 "navigation", "headerlink", "copyright", "programlisting", "screen", "synopsis",
                 "naviNextPrevious", "headerNavi", "footerNavi"}
_SKIP_ROLES = {"navigation", "search", "banner", "contentinfo"}
# A block-level start tag ends an open <p> (HTML lets authors omit </p>).
_CLOSES_P = {"p", "div", "table", "ul", "ol", "dl", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5",
             "h6", "hr", "section", "article", "figure", "address", "fieldset", "details", "main",
             "li", "dd", "dt", "tr", "td", "th", "body", "html"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "param", "source",
         "track", "wbr"}


class _ParagraphParser(HTMLParser):
    """Collects the text of <p> elements outside skipped subtrees."""

    def __init__(self, keep_inline_code: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.keep_inline_code = keep_inline_code
        self.paragraphs: list[tuple[str, int]] = []  # (text, characters that came from <code>)
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._in_p = False
        self._parts: list[str] = []
        self._code_depth = 0
        self._code_chars = 0

    def _starts_skip(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _SKIP_TAGS:
            return True
        values = dict(attrs)
        if (values.get("role") or "").lower() in _SKIP_ROLES:
            return True
        classes = (values.get("class") or "").split()
        return any(token in _SKIP_CLASSES for token in classes)

    def _flush(self) -> None:
        if self._in_p:
            self.paragraphs.append((normalize_whitespace("".join(self._parts)), self._code_chars))
        self._in_p, self._parts, self._code_depth, self._code_chars = False, [], 0, 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        if tag in _CLOSES_P:
            self._flush()
        if tag not in _VOID and self._starts_skip(tag, attrs):
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag == "p":
            self._in_p = True
        elif tag in ("code", "kbd", "samp", "tt") and self._in_p:
            self._code_depth += 1
        elif tag == "br" and self._in_p:
            self._parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # XHTML self-closing tags (<br/>, <a id="x"/>) open nothing.
        if self._skip_tag is None and tag == "br" and self._in_p:
            self._parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag == "p" or (tag in _CLOSES_P and self._in_p):
            self._flush()
        elif tag in ("code", "kbd", "samp", "tt") and self._code_depth:
            self._code_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._skip_tag is not None or not self._in_p:
            return
        if self._code_depth:
            if not self.keep_inline_code:
                return
            self._code_chars += len(data.strip())
        self._parts.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_paragraphs(
    markup: str, *, keep_inline_code: bool = True, max_code_share: float = 0.5, min_words: int = 5
) -> list[str]:
    """The prose paragraphs of an HTML page: text of <p> elements, minus navigation and code.

    Code blocks (<pre>, highlight divs) are always dropped. Inline <code> inside a sentence is kept
    by default because deleting it breaks the sentence ("call  to open"); paragraphs that are more
    than `max_code_share` inline code are dropped instead.
    """
    parser = _ParagraphParser(keep_inline_code)
    parser.feed(markup)
    parser.close()
    kept = []
    for text, code_chars in parser.paragraphs:
        if not text or code_chars > max_code_share * len(text.replace(" ", "")):
            continue
        if is_prose(text, min_words=min_words):
            kept.append(text)
    return kept


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def html_title(markup: str) -> str | None:
    match = _TITLE.search(markup[:20000])
    return normalize_whitespace(html.unescape(match.group(1))) if match else None


# --- MediaWiki ------------------------------------------------------------------------------------

# Sections after which an article is references and link lists, not prose.
_TAIL_SECTIONS = re.compile(
    r"^=+\s*(references|notes|footnotes|see also|external links|further reading|bibliography|"
    r"sources|citations|notes and references|works cited)\s*=+\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.DOTALL | re.IGNORECASE)
_DROPPED_ELEMENTS = re.compile(
    r"<(math|gallery|timeline|syntaxhighlight|source|pre|code|score|imagemap|table|chem)\b[^>]*>.*?</\1>",
    re.DOTALL | re.IGNORECASE,
)
_INNER_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_NAMESPACE_LINK = re.compile(r"^(file|image|category|media|wikipedia|wp|wikt|[a-z]{2,3}(-[a-z]+)?):", re.IGNORECASE)
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
_BARE_URL = re.compile(r"https?://\S+")
_QUOTES = re.compile(r"'{2,}")
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_HEADING = re.compile(r"^=+.*=+\s*$")


def _strip_nested(text: str, opener: str, closer: str) -> str:
    """Remove balanced opener..closer spans (templates, tables), innermost nesting included."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(opener, i):
            depth += 1
            i += len(opener)
        elif depth and text.startswith(closer, i):
            depth -= 1
            i += len(closer)
        else:
            if depth == 0:
                out.append(text[i])
            i += 1
    return "".join(out)


def _replace_links(text: str) -> str:
    """[[target|label]] -> label, [[target]] -> target; file/category/interwiki links vanish."""
    out, i = [], 0
    while (start := text.find("[[", i)) != -1:
        out.append(text[i:start])
        depth, j = 0, start
        while j < len(text):  # find the matching ]] allowing nested [[...]] (image captions)
            if text.startswith("[[", j):
                depth, j = depth + 1, j + 2
            elif text.startswith("]]", j):
                depth, j = depth - 1, j + 2
                if depth == 0:
                    break
            else:
                j += 1
        inner = text[start + 2 : j - 2]
        if not _NAMESPACE_LINK.match(inner.lstrip(":")):
            out.append(_replace_links(inner.split("|")[-1]) if "|" in inner else inner)
        i = j
    out.append(text[i:])
    return "".join(out)


def wiki_to_paragraphs(markup: str, *, min_words: int = 5) -> list[str]:
    """Plain prose paragraphs of a MediaWiki article (no templates, tables, refs, lists or headings)."""
    text = _COMMENT.sub("", markup)
    if (tail := _TAIL_SECTIONS.search(text)) is not None:
        text = text[: tail.start()]
    text = _REF.sub("", text)
    text = _DROPPED_ELEMENTS.sub("", text)
    text = _strip_nested(text, "{{", "}}")
    text = _strip_nested(text, "{|", "|}")
    text = _replace_links(text)
    text = _EXTERNAL_LINK.sub(lambda m: m.group(1) or "", text)
    text = _TAG.sub("", text)
    text = _QUOTES.sub("", text)
    text = _MAGIC_WORD.sub("", text)
    text = html.unescape(text)

    paragraphs, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        # Blank lines, headings and list/indent/table lines all end a prose paragraph.
        if not stripped or _HEADING.match(stripped) or stripped[0] in "*#:;|!{}":
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(stripped)
    if current:
        paragraphs.append(" ".join(current))

    cleaned = []
    for paragraph in paragraphs:
        paragraph = _BARE_URL.sub("", paragraph)
        paragraph = normalize_whitespace(re.sub(r"\(\s*[,;]?\s*\)", "", paragraph))  # "( )" left by templates
        paragraph = re.sub(r"\s+([,.;:])", r"\1", paragraph)
        if is_prose(paragraph, min_words=min_words):
            cleaned.append(paragraph)
    return cleaned


# --- POD (Perl documentation) ---------------------------------------------------------------------

_POD_CODE = re.compile(r"([IBCLEFSXZ])<(<+\s)?")


def _strip_pod_codes(text: str) -> str:
    """B<bold>, C<< code >>, L<text|target>, E<gt> ... -> their visible text."""
    out: list[str] = []
    stack: list[tuple[str, str, int]] = []  # (code letter, closing delimiter, start index in out)
    i = 0
    while i < len(text):
        match = _POD_CODE.match(text, i)
        if match:
            extra = match.group(2)
            closer = ">" * (len(extra.strip()) + 1) if extra else ">"
            stack.append((match.group(1), closer, len(out)))
            i = match.end()
            continue
        # A multi-angle code (C<< a >>) closes only on whitespace followed by its ">>".
        if stack and text.startswith(stack[-1][1], i) and (len(stack[-1][1]) == 1 or text[i - 1].isspace()):
            letter, closer, start = stack.pop()
            inner = "".join(out[start:])
            del out[start:]
            out.append(_render_pod_code(letter, inner.strip() if len(closer) > 1 else inner))
            i += len(closer)
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


_POD_ENTITIES = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/"}


def _render_pod_code(letter: str, inner: str) -> str:
    if letter in ("X", "Z"):  # index entries and zero-width markers
        return ""
    if letter == "E":
        if inner in _POD_ENTITIES:
            return _POD_ENTITIES[inner]
        if inner.isdigit() or inner.lower().startswith("0x"):
            return chr(int(inner, 0))
        return html.unescape(f"&{inner};")
    if letter == "L":
        if "|" in inner:
            return inner.split("|", 1)[0]
        name, _, section = inner.partition("/")
        section = section.strip('"')
        return f"{section} in {name}" if name and section else (name or section)
    return inner


def pod_to_paragraphs(pod: str, *, min_words: int = 5) -> list[str]:
    """Ordinary paragraphs of a POD document; commands, verbatim (code) blocks and =begin blocks dropped."""
    paragraphs, in_pod, in_begin = [], pod.lstrip().startswith("="), 0
    for block in re.split(r"\n[ \t]*\n", pod):
        if not block.strip():
            continue
        first = block.lstrip("\n")
        if first.startswith("="):
            command = first.split(None, 1)[0]
            if command == "=cut":
                in_pod = False
            else:
                in_pod = True
                if command == "=begin":
                    in_begin += 1
                elif command == "=end" and in_begin:
                    in_begin -= 1
            continue
        if not in_pod or in_begin or first[:1].isspace():  # code outside POD, =begin blocks, verbatim
            continue
        paragraph = normalize_whitespace(_strip_pod_codes(first))
        if is_prose(paragraph, min_words=min_words):
            paragraphs.append(paragraph)
    return paragraphs


# --- plain text -----------------------------------------------------------------------------------

def text_to_paragraphs(text: str, *, min_words: int = 1) -> list[str]:
    """Blank-line-separated blocks of plain text (or Markdown), each joined onto one line."""
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        paragraph = normalize_whitespace(block)
        if paragraph and len(paragraph.split()) >= min_words:
            paragraphs.append(paragraph)
    return paragraphs
