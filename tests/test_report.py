"""The HTML report (`make report`), looked at in headless Chromium as a user would: Snakemake
builds the smoke report of a Gaussian spec and a digits spec (on a copy of the shared smoke
store: conftest.smoke_store); the test opens it, clicks
through every category, and checks that each figure the specs declare (counted from the
plan) and each sample grid shows as one non-blank rendered image with the file's bytes, that
every table shows all its values, and that every caption names the spec and run hashes."""
import base64
import io
import re
import time
from pathlib import Path

import pytest

from engine.plan import build_plan
from engine.report import items

from .browser import BrowserError, Chromium, chromium_binary
from .conftest import add_specs, copy_project, require, snakemake, store_copy

NAV = """((label) => {
  const el = [...document.querySelectorAll('nav span, nav a')].filter(e => e.innerText.trim() === label).pop();
  if (!el) return false;
  el.click();
  return true;
})(%s)"""


def nonblank(png: bytes) -> tuple[bool, str]:
    """An image that shows something: not one flat colour (≥ 2% of pixels differ from the
    most common value, and a contrast of at least 64 grey levels)."""
    from PIL import Image
    im = Image.open(io.BytesIO(png)).convert("L")
    hist = im.histogram()
    n = sum(hist)
    top = max(hist)
    lo, hi = im.getextrema()
    ok = (n - top) / n >= 0.02 and hi - lo >= 64
    return ok, f"{im.size[0]}x{im.size[1]}, {100 * (n - top) / n:.1f}% off the background, range {lo}-{hi}"


def markdown_cells(md: str) -> list[str]:
    """Header and value cells of a generated Markdown table."""
    cells = []
    for line in md.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells += [c.strip() for c in line.strip("|").split(" | ")]
    # a verification level marker (engine/levels.py) shows as its letter after the value
    return [re.sub(r" <sup>([a-z])</sup>", r" \1", c) for c in cells if c]


class Report:
    """The Snakemake report UI: categories, subcategories, result rows with eye/info buttons."""

    def __init__(self, page, url):
        self.page, self.url = page, url

    def open_list(self, category: str, subcategory: str) -> None:
        self.page.open(self.url)
        self.page.wait_for("document.body.innerText.includes('RESULTS')", "the report's menu")
        assert self.page.js(NAV % repr(category)), f"no category {category} in the menu"
        if len(self.page.js(f"Object.keys(categories[{category!r}])")) > 1:
            self.page.wait_for(NAV.replace("el.click();", "") % repr(subcategory), f"subcategory {subcategory}")
            assert self.page.js(NAV % repr(subcategory))
        self.page.wait_for("document.querySelectorAll('nav tbody tr').length", f"the items of {subcategory}")

    def _row(self, text: str) -> int:
        rows = self.page.js("[...document.querySelectorAll('nav tbody tr')].map(r => r.innerText)")
        hits = [i for i, r in enumerate(rows) if text in r]
        assert len(hits) == 1, f"{text!r} in {rows}"
        return hits[0]

    def pick(self, toggle: str | None) -> None:
        """Select the value of the list's switch (the samples' fine-tuned/pretrained label)."""
        if toggle:
            assert self.page.js(f"!!document.getElementById({toggle!r})"), f"no switch {toggle}"
            self.page.js(f"document.getElementById({toggle!r}).click()")
            self.page.wait_for(f"document.getElementById({toggle!r}).checked", toggle)

    def show(self, category: str, subcategory: str, text: str, toggle: str | None = None) -> None:
        """Open the item whose row contains `text` (the eye button), after setting the switch."""
        self.open_list(category, subcategory)
        self.pick(toggle)
        i = self._row(text)
        self.page.js(f"document.querySelectorAll('nav tbody tr')[{i}].querySelector('a[iconname=eye]').click()")

    def caption(self, category: str, subcategory: str, text: str, toggle: str | None = None) -> str:
        """The caption the item's info button shows."""
        self.open_list(category, subcategory)
        self.pick(toggle)
        i = self._row(text)
        self.page.js(f"document.querySelectorAll('nav tbody tr')[{i}]"
                     ".querySelector('a[iconname=information-circle]').click()")
        return self.page.wait_for("document.querySelector('nav').innerText.includes('DESCRIPTION') && "
                                  "document.querySelector('nav').innerText", "the caption")

    def image(self) -> tuple[str, bytes]:
        """The shown image: its data URI and a screenshot of where it is rendered."""
        sel = "document.querySelector('#app > div > div:last-child img')"
        self.page.wait_for(f"{sel} && {sel}.complete && {sel}.naturalWidth > 0", "the image to render")
        box = self.page.js(f"(() => {{ const r = {sel}.getBoundingClientRect(); "
                           "return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; })()")
        assert box["width"] > 50 and box["height"] > 50, box
        return self.page.js(f"{sel}.src"), self.page.screenshot(box)

    def frame_text(self, until=None) -> str:
        """The rendered text of the shown HTML item (an iframe on a data: URI); with `until`, polled until
        until(text) holds (the frame shown before may still be there for a moment), or 20 s pass."""
        self.page.wait_for("!!document.querySelector('iframe')", "the item's frame")
        deadline = time.time() + 20
        while True:
            frames = self.page.call("Page.getFrameTree")["frameTree"].get("childFrames", [])
            if frames:
                try:
                    ctx = self.page.call("Page.createIsolatedWorld", frameId=frames[0]["frame"]["id"])
                    r = self.page.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                                       contextId=ctx["executionContextId"], returnByValue=True)
                except BrowserError as e:    # the frame was replaced between the two calls: poll again
                    if "context" not in str(e) and "frame" not in str(e).lower():
                        raise
                    r = {"result": {}}
                text = r["result"].get("value") or ""
                if text.strip() and (until is None or until(text) or time.time() > deadline):
                    return text
            assert time.time() < deadline, "the frame never rendered"
            time.sleep(0.2)


def data_uri_bytes(uri: str) -> bytes:
    assert uri.startswith("data:image/png"), uri[:60]
    return base64.b64decode(uri.split("base64,", 1)[1])


def test_captions_keep_spec_text_inert(tmp_path, monkeypatch):
    """A caption's spec text cannot become reStructuredText markup (a raw HTML directive, an
    include, a role) in the report; the caption still names the spec and every run hash."""
    from docutils.core import publish_parts
    project = copy_project(tmp_path, specs=False)
    add_specs(project, gaussian=("gaussian_vp_gap.yaml",))
    spec = project / "specs" / "gaussian_vp_gap.yaml"
    evil = ".. raw:: html <script>alert(1)</script> `x`_ :math:`1` |s| *b* {{ snakemake }}"
    spec.write_text(spec.read_text().replace('caption: "VP Gaussian: reward gap', f'caption: "{evil} VP'))
    monkeypatch.chdir(project)
    plan = build_plan("smoke")
    t = plan.targets["gaussian_vp_gap_table"]
    template = (Path(__file__).resolve().parent.parent / "rules" / "captions" / "item.rst").read_text()
    fields = items.caption(plan, "table", t.name)
    text = template
    for k, v in fields.items():
        text = text.replace("{{ snakemake.params.%s }}" % k, v)
    html = publish_parts(text, writer="html")["body"]
    assert "<script" not in html and "&lt;script&gt;" in html and "<em>" not in html
    assert ".. raw:: html" in html and "{{ snakemake }}" in html
    assert all(plan.run_hash(r, "evaluate") in html for r in t.spec.runs) and "specs/gaussian_vp_gap.yaml" in html


@pytest.mark.slow(84)
def test_report_shows_every_figure_table_and_sample_grid(smoke_store, tmp_path, monkeypatch):
    """On a copy of the shared smoke store with a Gaussian, a digits and a compressed-sensing spec:
    only the report and the index of the three are built here."""
    require(None if chromium_binary() else "chromium is not installed (Debian package `chromium`)")
    project = store_copy(smoke_store, tmp_path / "project", ("gaussian_vp_gap.yaml", "digits_ddpo_lambda.yaml",
                                                                    "csdm_digits.yaml"))
    spec = project / "specs" / "gaussian_vp_gap.yaml"           # spec text that would load from a network
    spec.write_text(spec.read_text().replace(
        "title: Reward gap", "title: Reward gap ![x](https://evil.example/p.png) <img src=https://evil.example/q.png>", 1))
    out = project / items.report_file("smoke")
    t0 = time.time()
    snakemake("--config", "scale=smoke", "--report", str(out), "--report-after-run", "report_items", cwd=project)
    built = time.time() - t0

    monkeypatch.chdir(project)
    plan = build_plan("smoke")
    figures = [t for t in plan.targets.values() if t.kind == "figure"]
    tables = [t for t in plan.targets.values() if t.kind == "table"]
    grids = items.sample_grids(plan)
    assert {t.spec.name for t in figures} == {t.spec.name for t in tables} == {s.name for s in plan.specs}
    assert grids and {spec for g in grids.values() for spec, _ in g.runs} == {"digits_ddpo_lambda", "csdm_digits"}

    html = out.read_text()
    assert not re.search(r"<(script|img|iframe)[^>]+src=[\"']?https?:", html), "the report loads something remote"
    assert not re.search(r"<link[^>]+href=[\"']?https?:", html)
    print(f"report: {out.stat().st_size / 2**20:.2f} MiB, built in {built:.0f}s")

    with Chromium(tmp_path / "browser") as page:
        ui = Report(page, out.resolve().as_uri())
        page.call("Network.enable")                      # every request the page makes is recorded
        page.open(ui.url)
        page.wait_for("document.body.innerText.includes('RESULTS')", "the report's menu")
        categories = page.js("categories")
        assert set(categories) == {"Figures", "Tables", "Samples", "Overview"}, categories
        # as many figure items as the specs declare figures, each once
        listed = sorted(Path(p).stem for sub in categories["Figures"].values() for p in sub)
        assert listed == sorted(t.name for t in figures)

        for t in figures:
            ui.show("Figures", t.spec.name, t.name)
            uri, shot = ui.image()
            assert data_uri_bytes(uri) == Path(t.files[0]).read_bytes(), f"{t.name}: not the generated figure"
            ok, why = nonblank(shot)
            assert ok, f"figure {t.name} renders blank: {why}"
            caption = ui.caption("Figures", t.spec.name, t.name)
            runs = {plan.run_hash(r, "finetune" if t.cfg.x == "epoch" else "evaluate") for r in t.spec.runs}
            assert t.spec.name in caption and t.spec.doc.file in caption
            assert all(h in caption for h in runs), (t.name, runs, caption)

        listed = sorted(Path(p).stem for sub in categories["Tables"].values() for p in sub)
        assert listed == sorted(t.name for t in tables)
        for t in tables:
            ui.show("Tables", t.spec.name, t.name)
            values = markdown_cells(Path(t.files[0]).read_text())
            shown = ui.frame_text(until=lambda text: all(v in text for v in values))   # noqa: B023
            assert len(values) >= 2 * len(t.cfg.metrics)
            missing = [v for v in values if v not in shown]
            assert not missing, f"table {t.name}: values not shown: {missing}\n{shown}"
            caption = ui.caption("Tables", t.spec.name, t.name)
            assert all(plan.run_hash(r, "evaluate") in caption for r in t.spec.runs), caption

        listed = sorted(Path(p).stem for sub in categories["Samples"].values() for p in sub)
        assert listed == sorted(grids)
        for key, g in grids.items():
            spec, idx = g.runs[0]
            kinds = {o.which for o in grids.values() if o.runs[0][0] == spec}
            # the fine-tuned/pretrained switch; a spec with one kind of grid (generated) has none
            toggle = f"toggle-model-{items.WHICH[g.which][0]}" if len(kinds) > 1 else None
            ui.show("Samples", spec, f"{spec} run {idx} ", toggle)
            uri, shot = ui.image()
            assert data_uri_bytes(uri) == (Path("results") / g.stage / g.result / g.file).read_bytes()
            ok, why = nonblank(shot)
            assert ok, f"sample grid {key} renders blank: {why}"
            caption = ui.caption("Samples", spec, f"{spec} run {idx} ", toggle)
            upstream = plan.instances[g.result].upstream_by_role().values()
            assert g.result in caption and all(h in caption for h in upstream) and spec in caption
            assert items.WHICH[g.which][0] in caption

        ui.show("Overview", "smoke", "index")
        overview = ui.frame_text(until=lambda text: all(t.name in text for t in plan.targets.values()))
        missing = [t.name for t in plan.targets.values() if t.name not in overview]
        assert not missing, (missing, overview[:3000])
        page.js("1")                                      # read the last network events
        remote = [u for u in page.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert page.requests and remote == [], remote     # the page loaded itself, and nothing from a network
