"""The course site builder: page order, navigation, link rewriting and the DOM checks, without a browser;
the headless Chromium check itself runs on a tiny site when chromium is installed."""

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
site = importlib.util.module_from_spec(spec)
sys.modules["build_site"] = site
spec.loader.exec_module(site)

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def notebook(title, next_name=None, figure=False):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nPurpose."), nbformat.v4.new_code_cell("x = 1")]
    if figure:
        nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    if next_name:
        nb.cells.append(nbformat.v4.new_markdown_cell(f"Next: [the next one]({next_name}.ipynb), "
                                                      "helpers in [thinking](../qwen_course/thinking.py)."))
    return nb


@pytest.fixture
def course(tmp_path):
    src, run = tmp_path / "notebooks", tmp_path / "executed"
    src.mkdir(), run.mkdir()
    nbformat.write(notebook("00 · Setup", "01_chat"), src / "00_setup.ipynb")
    nbformat.write(notebook("01 · Chat", "02_end"), src / "01_chat.ipynb")
    nbformat.write(notebook("02 · End"), src / "02_end.ipynb")
    nbformat.write(notebook("01 · Chat (executed)", "02_end", figure=True), run / "01_chat.ipynb")
    nbformat.write(notebook("not a lesson"), src / "scratch.ipynb")
    nbformat.write(notebook("a rerun"), run / "01_run2.ipynb")
    return src, run, tmp_path / "site"


def test_pages_in_notebook_order_prefer_executed_copies(course):
    src, run, _ = course
    order = site.pages(src, run)
    assert [p.name for p in order] == ["00_setup", "01_chat", "02_end"]
    assert [p.executed for p in order] == [False, True, False]
    assert order[1].title == "01 · Chat (executed)" and order[1].href == "01_chat.html"


def test_navigation_first_middle_last(course):
    order = site.pages(*course[:2])
    first, middle, last = (site.nav_links(site.navigation(order, i)) for i in range(3))
    assert first == {"home": "index.html", "next": "01_chat.html"}
    assert middle == {"prev": "00_setup.html", "home": "index.html", "next": "02_end.html"}
    assert last == {"prev": "01_chat.html", "home": "index.html"}


def test_rewrite_links():
    body = ('<a href="01_chat.ipynb#Recap">n</a> <a href="../qwen_course/thinking.py">t</a> '
            '<a href="https://qwen.ai">q</a> <a href="#top">t</a> <a href="index.html">h</a>')
    out = site.rewrite_links(body, {"01_chat"}, "https://github.com/o/r", "main")
    assert 'href="01_chat.html#Recap"' in out and 'href="https://github.com/o/r/blob/main/qwen_course/thinking.py"' in out
    assert 'href="https://qwen.ai"' in out and 'href="#top"' in out and 'href="index.html"' in out


def test_build_writes_linked_pages(course):
    src, run, out = course
    site.build(out, src, run)
    listing = json.loads((out / "site.json").read_text())["pages"]
    assert listing == ["index.html", "00_setup.html", "01_chat.html", "02_end.html"]
    for name in listing:
        doc = (out / name).read_text()
        assert site.check_dom(name, doc.replace("<body", '<body data-site-loaded="1"', 1), out) == []
        assert "cdnjs" not in doc and "require.min.js" not in doc  # loads with no network
    chat = (out / "01_chat.html").read_text()
    assert "data:image/png;base64," in chat and 'href="02_end.html"' in chat
    index = (out / "index.html").read_text()
    assert index.index("00_setup.html") < index.index("01_chat.html") < index.index("02_end.html")


def test_check_dom_reports_problems(tmp_path):
    (tmp_path / "a.html").write_text("x")
    dom = ('<body data-images="2" data-images-ok="1" data-site-loaded="1"><a href="index.html" rel="home">h</a>'
           '<a href="gone.html" rel="next">n</a><a href="a.html">a</a></body>')
    problems = site.check_dom("a.html", dom, tmp_path)
    assert any("gone.html points at no page" in p for p in problems)
    assert any("index.html points at no page" in p for p in problems)
    assert any("only 1 of 2 images" in p for p in problems)
    assert site.check_dom("b.html", "<body></body>", tmp_path) == ["b.html: the page did not finish loading",
                                                                   "b.html: no navigation"]


@pytest.mark.slow
@pytest.mark.skipif(not site.chromium(), reason="chromium not installed (apt-get install -y chromium)")
def test_browser_check_on_a_tiny_site(course):
    src, run, out = course
    site.build(out, src, run)
    assert site.check(out) == []
    shots = sorted(p.name for p in (out / "screenshots").glob("*.png"))
    assert shots == ["00_setup.png", "01_chat.png", "02_end.png", "index.png"]
