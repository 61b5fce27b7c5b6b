"""Build the course notebooks into a static site (nbconvert's HTML exporter, offline) and check it in headless Chromium.

    python tools/build_site.py            # build/site/index.html + one page per notebook, in notebook order
    python tools/build_site.py --check    # also load every page in headless Chromium: loads, links, images, screenshot

Pages come from the CI-executed copies in build/notebooks/ (outputs and figures) when present, else from notebooks/.
Every page gets home / previous / next links; links between notebooks point at their pages.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS, EXECUTED, OUT = ROOT / "notebooks", ROOT / "build" / "notebooks", ROOT / "build" / "site"
PAGE = re.compile(r"^\d\d_[\w-]+\.ipynb$")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=10000"]

# Runs in the browser after load: counts the page's own (embedded or local) images and how many decoded.
PROBE_JS = """<script>
window.addEventListener('load', function () {
  var own = [].slice.call(document.images).filter(function (i) { return !/^https?:/.test(i.getAttribute('src') || ''); });
  var ok = own.filter(function (i) { return i.complete && i.naturalWidth > 0 && i.naturalHeight > 0; });
  document.body.setAttribute('data-images', own.length);
  document.body.setAttribute('data-images-ok', ok.length);
  document.body.setAttribute('data-site-loaded', '1');
});
</script>"""

NAV_CSS = """<style>
nav.course-nav { display: flex; gap: 1.5em; justify-content: space-between; max-width: 1100px; margin: 1em auto;
  padding: .6em 1em; border: 1px solid #ddd; border-radius: 6px; font-family: sans-serif; background: #fafafa; }
nav.course-nav a { text-decoration: none; } nav.course-nav .disabled { color: #aaa; }
</style>"""

TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}""" + NAV_CSS + """{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.site_nav }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.site_nav_bottom }}{{ super() }}{%- endblock body_footer -%}
{%- block footer_js -%}""" + PROBE_JS + """{%- endblock footer_js -%}
"""


@dataclass
class Page:
    """One notebook's page: where it came from and where it goes."""

    name: str
    title: str
    source: str
    executed: bool

    @property
    def href(self) -> str:
        return self.name + ".html"


def title_of(nb: dict, fallback: str) -> str:
    """The notebook's first Markdown heading, without the '#'."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def pages(notebooks: Path = NOTEBOOKS, executed: Path = EXECUTED) -> list[Page]:
    """The course pages in notebook order, each from its executed copy when there is one."""
    out = []
    for src in sorted(p for p in notebooks.glob("*.ipynb") if PAGE.match(p.name)):
        run = executed / src.name
        use = run if run.is_file() else src
        nb = json.loads(use.read_text(encoding="utf-8"))
        out.append(Page(src.stem, title_of(nb, src.stem), str(use), use == run))
    return out


def navigation(order: list[Page], i: int) -> str:
    """Home / previous / next links for page i."""
    def link(page, label):
        return f'<a href="{page.href}" rel="{label}">{html.escape(label_text[label])} {html.escape(page.title)}</a>' \
            if page else f'<span class="disabled">{label_text[label]}</span>'

    label_text = {"prev": "\u2190", "next": "\u2192"}
    prev = order[i - 1] if i > 0 else None
    nxt = order[i + 1] if i + 1 < len(order) else None
    return (f'<nav class="course-nav"><span>{link(prev, "prev")}</span>'
            f'<a href="index.html" rel="home">Course home</a><span>{link(nxt, "next")}</span></nav>')


def rewrite_links(body: str, names: set[str], repository: str, branch: str) -> str:
    """Notebook links -> their pages; other relative links -> the file on GitHub (the site holds only pages)."""
    def fix(m):
        href = m.group(2)
        if re.match(r"^(?:[a-z]+:|#|data:)", href):
            return m.group(0)
        target = unquote(href.split("#")[0])
        stem = Path(target).stem
        if target == "index.html" or (target.endswith(".html") and stem in names):
            return m.group(0)  # already a page of the site (the navigation)
        if target.endswith(".ipynb") and stem in names:
            return f'{m.group(1)}"{stem}.html{href[len(href.split("#")[0]):]}"'
        path = (Path("notebooks") / target).as_posix()
        parts = []
        for part in path.split("/"):
            parts = parts[:-1] if part == ".." else parts + ([part] if part not in ("", ".") else [])
        return f'{m.group(1)}"{repository}/blob/{branch}/{"/".join(parts)}"'

    return re.sub(r'(href=)"([^"]*)"', fix, body)


def index_html(order: list[Page]) -> str:
    rows = "\n".join(
        f'<li><a href="{p.href}">{html.escape(p.title)}</a> <small>({p.name}.ipynb, '
        f'{"executed in CI, with outputs" if p.executed else "source, not executed"})</small></li>' for p in order)
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>The Qwen course</title>{NAV_CSS}</head>"
            f"<body style='font-family: sans-serif; max-width: 900px; margin: 2em auto'>"
            f"<h1>The Qwen model family, hands-on</h1><p>The course notebooks in order. Each page has home, previous "
            f"and next links.</p><ol start='0'>\n{rows}\n</ol>{PROBE_JS}</body></html>\n")


def build(out: Path = OUT, notebooks: Path = NOTEBOOKS, executed: Path = EXECUTED) -> list[Page]:
    """Write index.html, one page per notebook and site.json (the page list) into `out`."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    course = json.loads((ROOT / "qwen_course" / "data" / "course.json").read_text())
    order = pages(notebooks, executed)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.html"):
        old.unlink()
    exporter = HTMLExporter(template_name="lab", embed_images=True,
                            extra_loaders=[DictLoader({"course_site.html.j2": TEMPLATE})])
    exporter.template_file = "course_site.html.j2"
    names = {p.name for p in order}
    for i, page in enumerate(order):
        nb = nbformat.read(page.source, as_version=4)
        nav = navigation(order, i)
        resources = {"site_nav": nav, "site_nav_bottom": nav,
                     "metadata": {"name": page.title, "path": str(Path(page.source).parent)}}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        (out / page.href).write_text(rewrite_links(body, names, course["repository"], course["branch"]), encoding="utf-8")
        print(f"  {page.href}  <- {Path(page.source).relative_to(ROOT) if Path(page.source).is_relative_to(ROOT) else page.source}")
    (out / "index.html").write_text(index_html(order), encoding="utf-8")
    (out / "site.json").write_text(json.dumps({"pages": ["index.html"] + [p.href for p in order],
                                               "notebooks": [asdict(p) for p in order]}, indent=1))
    return order


# --- the browser check ----------------------------------------------------------------------------------------------

def local_links(doc: str) -> list[str]:
    """Relative hrefs of a page (what must resolve inside the site)."""
    return [h for h in re.findall(r'href="([^"]*)"', doc) if h and not re.match(r"^(?:[a-z]+:|#)", h)]


def nav_links(doc: str) -> dict[str, str]:
    """rel -> href of the course navigation links (home, prev, next)."""
    return {rel: href for href, rel in re.findall(r'<a href="([^"]+)" rel="(home|prev|next)"', doc)}


def check_dom(name: str, dom: str, site: Path) -> list[str]:
    """Problems in a page's rendered DOM: not loaded, broken links, images that did not decode."""
    problems = []
    if 'data-site-loaded="1"' not in dom:
        problems.append(f"{name}: the page did not finish loading")
    for href in local_links(dom):
        if not (site / unquote(href.split("#")[0])).is_file():
            problems.append(f"{name}: link {href} points at no page")
    nav = nav_links(dom)
    if name != "index.html" and "home" not in nav:
        problems.append(f"{name}: no navigation")
    for rel, href in nav.items():
        if href not in local_links(dom):
            problems.append(f"{name}: {rel} link {href} leaves the site")
    m = re.search(r'data-images="(\d+)" data-images-ok="(\d+)"', dom)
    if m and m.group(1) != m.group(2):
        problems.append(f"{name}: only {m.group(2)} of {m.group(1)} images rendered")
    return problems


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


def browse(browser: str, url: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=timeout)


def check(site: Path = OUT, browser: str | None = None) -> list[str]:
    """Load every page in headless Chromium: it loads, its links resolve, its images render; keep a screenshot."""
    browser = browser or chromium()
    if not browser:
        return ["chromium not found (apt-get install -y chromium)"]
    shots = site / "screenshots"
    shots.mkdir(exist_ok=True)
    problems = []
    for name in json.loads((site / "site.json").read_text())["pages"]:
        url = (site / name).resolve().as_uri()
        dom = browse(browser, url, "--dump-dom")
        if dom.returncode != 0 or "<body" not in dom.stdout:
            problems.append(f"{name}: chromium could not load it (exit {dom.returncode}): {dom.stderr.strip()[-200:]}")
            continue
        problems += check_dom(name, dom.stdout, site)
        shot = shots / (Path(name).stem + ".png")
        browse(browser, url, f"--screenshot={shot}", "--window-size=1280,1600")
        if not shot.is_file() or shot.stat().st_size < 1000 or shot.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            problems.append(f"{name}: no screenshot")
        m = re.search(r'data-images="(\d+)" data-images-ok="(\d+)"', dom.stdout)
        counts = f"{m.group(2)}/{m.group(1)}" if m else "?"
        print(f"  {name}: loaded, {len(local_links(dom.stdout))} local links, images {counts} rendered, "
              f"screenshot {shot.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="check the built site in headless Chromium")
    ap.add_argument("--check-only", action="store_true", help="check without rebuilding")
    args = ap.parse_args(argv)
    if not args.check_only:
        order = build(args.out)
        print(f"site: {args.out / 'index.html'} ({len(order)} notebooks, "
              f"{sum(p.executed for p in order)} from CI-executed copies)")
    if args.check or args.check_only:
        problems = check(args.out)
        for p in problems:
            print("FAIL " + p, file=sys.stderr)
        if problems:
            return 1
        print("browser check: every page loads, links resolve, images render")
    return 0


if __name__ == "__main__":
    sys.exit(main())
