"""The HTML helper (euralis_lib.presentation.markup) on hostile values: text and attribute values escaped, script
URLs and event handlers refused, download names made safe."""

from __future__ import annotations

import base64

import ipywidgets as w
import pytest

from euralis_lib.dashboards import common
from euralis_lib.presentation.markup import download_link, element, html, join, link, literal, safe_filename

PAYLOAD = 'LL-X1"><img src=x onerror=alert(1)>'


def test_text_and_attribute_values_are_escaped():
    assert element("td", PAYLOAD, class_="texte") == (
        '<td class="texte">LL-X1&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</td>')
    assert element("a", "x", title="'><script>") == '<a title="&#39;&gt;&lt;script&gt;">x</a>'
    assert html("<h4>Lots du gaveur {}</h4>", PAYLOAD) == element("h4", f"Lots du gaveur {PAYLOAD}")
    assert join(["<b>", element("b", "gras")], " ") == "&lt;b&gt; <b>gras</b>"  # only Markup passes as is


def test_markup_is_not_escaped_twice_and_attributes_follow_the_rules():
    assert element("div", element("b", "a & b")) == "<div><b>a &amp; b</b></div>"
    assert element("input", disabled=True, value=None, hidden=False) == "<input disabled>"
    assert element("div", data_run="3") == '<div data-run="3"></div>'
    assert literal("<style>a {color:red}</style>") + "<" == "<style>a {color:red}</style>&lt;"


@pytest.mark.parametrize("url", ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
                                 "vbscript:x", "data:text/html;base64,PHNjcmlwdD4="])
def test_links_refuse_script_urls(url):
    with pytest.raises(ValueError, match="URL refused"):
        link(url, "clic")
    with pytest.raises(ValueError, match="URL refused"):
        element("img", src=url)


def test_links_accept_relative_and_web_urls():
    assert link("sites.ipynb", "Sites") == '<a href="sites.ipynb">Sites</a>'
    assert link("../rapports/2026-11-25/finance-12.html", "rapport", target="_blank").startswith('<a href="../')
    assert link('https://example.org/?a=1&b="2"', "x") == '<a href="https://example.org/?a=1&amp;b=&#34;2&#34;">x</a>'


@pytest.mark.parametrize("bad", [{"onclick": "alert(1)"}, {"onerror_": "x"}, {"a b": "x"}, {'x"': "y"}])
def test_event_handlers_and_odd_attribute_names_are_refused(bad):
    with pytest.raises(ValueError, match="attribute name refused"):
        element("div", "x", **bad)


def test_script_elements_and_odd_tags_are_refused():
    for tag in ("script", "img src=x", "A"):
        with pytest.raises(ValueError, match="element refused"):
            element(tag)


def test_safe_filename_keeps_letters_and_drops_everything_else():
    assert safe_filename(f"lots_{PAYLOAD}") == "lots_LL-X1_img_src_x_onerror_alert_1"
    assert safe_filename("../../etc/passwd") == "etc_passwd"
    assert safe_filename("lots_Dupré Éric") == "lots_Dupré_Éric"
    assert safe_filename(" \"'<>") == "export" and len(safe_filename("a" * 500)) == 80


def test_download_link_carries_the_file_under_a_safe_name():
    lien = download_link(f"lots_{PAYLOAD}.csv", "text/csv", b"a;b\r\n", "⬇ CSV")
    assert lien == ('<a download="lots_LL-X1_img_src_x_onerror_alert_1.csv" href="data:text/csv;base64,'
                    + base64.b64encode(b"a;b\r\n").decode() + '">⬇ CSV</a>')
    for mime in ("text/html", "image/svg+xml", 'text/csv" onclick="x'):
        with pytest.raises(ValueError, match="content type refused"):
            download_link("x.csv", mime, b"", "x")


def test_the_snapshot_shows_as_html_only_what_the_helper_built():
    """A widget value that is a plain string (not built by the helper) is shown escaped in the page snapshot."""
    assert common.instantane(w.HTML(PAYLOAD)) == "LL-X1&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert common.instantane(w.HTML(element("b", PAYLOAD))) == element("b", PAYLOAD)
