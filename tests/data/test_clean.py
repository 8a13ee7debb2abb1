"""HTML, MediaWiki and POD cleaning on small hand-written fixtures."""
from electra_lab.data.clean import (
    html_to_paragraphs,
    is_prose,
    pod_to_paragraphs,
    text_to_paragraphs,
    wiki_to_paragraphs,
)

PAGE = """<html><head><title>T</title><style>p { color: red }</style></head><body>
<nav><p>Home and all the other navigation links live here.</p></nav>
<div class="sphinxsidebar" role="navigation"><p>Previous topic and next topic are in the sidebar.</p></div>
<h1>Title</h1>
<p>The first paragraph explains &amp; describes the library in plain words.</p>
<p>Call <code>open()</code> to read a file from the disk into memory.
<p>An unclosed paragraph is ended by the following block element here.
<div class="highlight"><pre>def secret_code(): return "never kept"</pre></div>
<pre>more code that must be dropped from the output</pre>
<p><code>some_function(argument_one, argument_two, argument_three)</code> x</p>
<p>Too short.</p>
<script>var p = "<p>not a paragraph at all in a script</p>";</script>
<footer><p>Copyright 2024 by the authors of this documentation.</p></footer>
</body></html>"""


def test_html_keeps_paragraph_text_and_drops_navigation_and_code():
    paragraphs = html_to_paragraphs(PAGE)
    assert paragraphs == [
        "The first paragraph explains & describes the library in plain words.",
        "Call open() to read a file from the disk into memory.",
        "An unclosed paragraph is ended by the following block element here.",
    ]
    joined = "\n".join(paragraphs)
    for dropped in ("navigation", "sidebar", "secret_code", "more code", "Too short", "script", "Copyright"):
        assert dropped not in joined


def test_html_inline_code_can_be_dropped():
    assert html_to_paragraphs(PAGE, keep_inline_code=False)[1] == "Call to read a file from the disk into memory."


def test_is_prose_rejects_boilerplate_and_symbols():
    assert is_prose("A perfectly ordinary sentence with enough words.")
    assert not is_prose("Copyright 2020, the project authors and contributors.")
    assert not is_prose("0x00 0x01 0x02 0x03 0x04 0x05 ==> ++")
    assert not is_prose("two words")


WIKI = """{{Infobox thing|name=Widget|image=[[File:W.png|thumb|a [[nested]] caption]]}}
'''Widget''' is a [[gadget|small device]] used in [[engineering]].<ref>Smith 2001, p. 3</ref> \
It was named by {{lang|de|Herr}} Jones.<ref name="x"/>

== History ==
The widget first appeared in 1901 in a [http://example.org catalogue] of parts.<!-- hidden comment -->
* a list item that is not prose at all here
{| class="wikitable"
| cell one || cell two
|}
[[Category:Devices]]

== References ==
The references section is dropped entirely from the text.
"""


def test_wiki_markup_is_stripped_to_prose():
    paragraphs = wiki_to_paragraphs(WIKI)
    assert paragraphs == [
        "Widget is a small device used in engineering. It was named by Jones.",
        "The widget first appeared in 1901 in a catalogue of parts.",
    ]


POD = """=head1 NAME

perlthing - a thing

=head1 DESCRIPTION

This is B<bold> and C<< $a <=> $b >> with L<perlfunc/open> and E<lt>tagE<gt> inside a sentence.

    my $verbatim = "code block";

=begin html

<p>raw html that is dropped from the text</p>

=end html

=cut

sub not_pod { return "this is perl code, not documentation" }
"""


def test_pod_paragraphs_drop_commands_code_and_formatting():
    assert pod_to_paragraphs(POD, min_words=3) == [
        "perlthing - a thing",
        "This is bold and $a <=> $b with open in perlfunc and <tag> inside a sentence.",
    ]


def test_text_paragraphs_join_lines():
    assert text_to_paragraphs("one\ntwo\n\n  three  \r\n\n\n") == ["one two", "three"]


def test_is_prose_rejects_non_latin_text():
    assert not is_prose("这是一个 用中文 写成的 段落 不应该 保留")
    assert is_prose("Le café est très bon dans cette ville.")
