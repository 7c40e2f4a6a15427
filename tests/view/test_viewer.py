"""plg view in a real browser: headless Chromium driven over the pages of a demo repository, one browser
session and one server for the module. Checks what a user sees: both models' outputs side by side, the
score chart, filters narrowing the log, picked requests written to a history dataset, markup shown as text
with no script run, and a cross-site form refused."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.view.browser import chromium, require_browser, serving
from tests.view.demo import MODELS, TWO_MODEL_RUN, Demo, build_demo

pytest.importorskip("starlette", reason="the view extra is not installed")
pytest.importorskip("selenium", reason="selenium (test extra) is not installed")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return build_demo(tmp_path_factory.mktemp("viewer"))


@pytest.fixture(scope="module")
def viewer(demo: Demo) -> Iterator[str]:
    from plg.view.app import create_app
    from plg.view.site import Site

    site = Site.open(demo.root, demo.log_path, demo.runs_dir)
    with serving(create_app(site)) as url:
        yield url
    site.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    with chromium() as driver:
        yield driver


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _go(driver: Any, element: Any) -> None:
    """Click a link or button and wait for the page it leads to."""
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element("tag name", "html")
    element.click()
    WebDriverWait(driver, 30).until(staleness_of(old))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _text(driver: Any, selector: str) -> str:
    return "\n".join(e.text for e in _css(driver, selector))


def test_prompts_page_shows_labels_scores_and_gate(browser: Any, viewer: str) -> None:
    browser.get(viewer + "/")
    rows = {r.text.split()[0]: r.text for r in _css(browser, "#prompts tbody tr")}
    assert set(rows) == {"cake", "hostile"}
    assert "production → v3" in rows["cake"] and "v3" in rows["cake"]
    assert "1.00" in rows["cake"] and "passed" in rows["cake"]
    assert "not checked" in rows["hostile"]


def test_prompt_page_draws_the_trend_with_production_markers(browser: Any, viewer: str) -> None:
    browser.get(viewer + "/prompt/cake")
    points = _css(browser, "svg#trend g.series circle")
    assert len(points) == 9  # overall score, contains and sections for three versions
    assert all(p.is_displayed() for p in points)
    markers = _css(browser, "svg#trend g.marker")
    assert len(markers) == 2 and len(_css(browser, "svg#trend g.marker.current")) == 1
    assert [v.text.split()[0] for v in _css(browser, "#versions tbody tr.held")] == ["v3", "v1"]
    history = _text(browser, "#label-history")
    assert "release v3" in history and "v1 → v3" in history and "eval score 1.000 >= 0.3" in history
    from selenium.webdriver.support.ui import Select

    Select(_css(browser, "select[name=a]")[0]).select_by_visible_text("v1")
    Select(_css(browser, "select[name=b]")[0]).select_by_visible_text("v3")
    _go(browser, _css(browser, "form.inline button")[0])
    added = _text(browser, "#diff .add")
    assert "Give an Overview, then Ingredients and Instructions sections." in added
    assert "cake@1" in _text(browser, "#diff .file")


def test_grid_shows_both_models_side_by_side_and_filters(browser: Any, viewer: str) -> None:
    browser.get(viewer + "/runs")
    [link] = [a for a in _css(browser, "#runs a") if a.text == TWO_MODEL_RUN]
    _go(browser, link)
    assert [th.text for th in _css(browser, "#grid thead th")][2:] == list(MODELS)
    rows = _css(browser, "#grid tbody tr")
    assert len(rows) == 6
    first = [td.text for td in rows[0].find_elements("css selector", "td.cell")]
    assert "lemon cake from gpt-4o-mini" in first[0] and "lemon cake from claude-3-5-haiku" in first[1]
    assert "RateLimitError" in rows[4].text and rows[4].find_elements("css selector", "td.err .badge.err")
    assert rows[2].find_elements("css selector", "td.fail .badge.fail")
    _css(browser, "input[name=failing]")[0].click()
    _go(browser, _css(browser, "#grid-filters button")[0])
    assert [r.text.split()[0] for r in _css(browser, "#grid tbody tr")] == ["3", "5"]
    box = _css(browser, "input[name=text]")[0]
    box.clear()
    box.send_keys("dense")
    _go(browser, _css(browser, "#grid-filters button")[0])
    assert [r.text.split()[0] for r in _css(browser, "#grid tbody tr")] == ["3"]


def _run_of_version(demo: Demo, version: int) -> str:
    for path in demo.runs_dir.glob("*.jsonl"):
        header = json.loads(path.read_text().splitlines()[0])
        if header["version"] == version and header["models"] == ["plg/offline"]:
            return path.stem
    raise AssertionError(f"no run of v{version}")


def test_row_detail_draws_the_span_tree(browser: Any, viewer: str, demo: Demo) -> None:
    latest = _run_of_version(demo, 3)
    browser.get(f"{viewer}/run/{latest}")
    _go(browser, _css(browser, "#grid tbody tr a")[0])
    names = [td.text for td in _css(browser, "table.spans td.span-name")]
    assert names[0] == "workflow.prompt" and "llm.call" in names and "evaluator.sections" in names
    assert len(_css(browser, "table.spans svg.bar rect")) == len(names)
    assert "Write a recipe for a lemon cake" in _text(browser, ".message pre")


def test_two_runs_compared_with_a_word_diff(browser: Any, viewer: str, demo: Demo) -> None:
    first, last = _run_of_version(demo, 1), _run_of_version(demo, 3)
    browser.get(f"{viewer}/compare?a={first}&b={last}&changed=1")
    assert len(_css(browser, "#compare tbody tr")) == 6
    inserted = " ".join(e.text for e in _css(browser, "#compare ins"))
    assert "Ingredients" in inserted and "Instructions" in inserted


def test_log_filters_narrow_the_list(browser: Any, viewer: str) -> None:
    browser.get(viewer + "/logs")
    assert len(_css(browser, "#log tbody tr")) == 7
    _css(browser, "input[name=tags]")[0].send_keys("batch")
    _go(browser, _css(browser, "#log-filters button")[0])
    assert _text(browser, "#log-count").startswith("3 matching")
    assert len(_css(browser, "#log tbody tr")) == 3
    _css(browser, "input[name=meta]")[0].send_keys("user=ada")
    _go(browser, _css(browser, "#log-filters button")[0])
    assert len(_css(browser, "#log tbody tr")) == 1
    _go(browser, _css(browser, "#log tbody tr a")[0])
    assert "plg.run" in _text(browser, "table.spans") and "batch" in _text(browser, "table.kv")


def test_picked_requests_are_written_to_a_history_dataset(browser: Any, viewer: str, demo: Demo) -> None:
    from plg.log.history import iter_history

    browser.get(viewer + "/logs?prompt=cake")
    boxes = _css(browser, "input.pick")
    assert len(boxes) == 6
    picked = [boxes[0].get_attribute("value"), boxes[2].get_attribute("value")]
    boxes[0].click()
    boxes[2].click()
    name = _css(browser, "#dataset-name")[0]
    name.clear()
    name.send_keys("cake-picked")
    _go(browser, _css(browser, "#pick-submit")[0])
    assert "Wrote 2 requests to evals/history/cake-picked.jsonl" in _text(browser, "#written")
    rows = list(iter_history(demo.root / "evals/history/cake-picked.jsonl"))
    assert sorted(r.request_id for r in rows) == sorted(picked)
    assert all(r.prompt == "cake" and r.label == "production" and r.output for r in rows)
    browser.get(viewer + "/logs?prompt=cake&tags=web")
    _css(browser, "#pick-all")[0].click()
    name = _css(browser, "#dataset-name")[0]
    name.clear()
    name.send_keys("cake-picked")
    _go(browser, _css(browser, "#pick-submit")[0])
    written = _text(browser, "#written")
    assert "to evals/history/cake-picked.jsonl" in written
    lines = (demo.root / "evals/history/cake-picked.jsonl").read_text().splitlines()
    ids = [json.loads(line)["request_id"] for line in lines]
    assert len(ids) == len(set(ids)) and set(picked) <= set(ids) and len(ids) >= 3


def test_markup_in_templates_and_outputs_is_shown_as_text(browser: Any, viewer: str) -> None:
    browser.get(viewer + "/prompt/hostile?a=1&b=1")
    browser.get(viewer + "/")
    assert "<img src=x onerror=window.__pwned=1> shown as text" in _text(browser, "#prompts")
    assert not _css(browser, "#prompts img")
    browser.get(viewer + "/logs?prompt=hostile")
    _go(browser, _css(browser, "#log tbody tr a")[0])
    assert "<script>window.__pwned = 1</script>Answer <b>bold?</b>" in _text(browser, ".message pre")
    assert not _css(browser, "main script") and not _css(browser, "main b")
    assert browser.execute_script("return window.__pwned === undefined")


class _Attacker(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_cross_site_form_cannot_write(browser: Any, viewer: str, demo: Demo) -> None:
    """Another site (another origin on this machine) posts a well-formed form, even with a valid token:
    the viewer refuses it and writes nothing."""
    browser.get(viewer + "/logs")
    token = _css(browser, "input[name=csrf]")[0].get_attribute("value")
    _Attacker.page = (
        f'<form id="f" method="post" action="{viewer}/history"><input name="csrf" value="{token}">'
        '<input name="all" value="1"><input name="name" value="stolen"></form>'
    ).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://localhost:{server.server_address[1]}/")
        browser.execute_script("document.getElementById('f').submit()")
        assert "refused: origin http://localhost:" in browser.find_element("tag name", "body").text
    finally:
        server.shutdown()
    assert not (demo.root / "evals/history/stolen.jsonl").exists()


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_prompts_is_the_prompts_page_not_a_404(viewer: str) -> None:
    """/runs and /logs are their pages' names; /prompts had been a 404 (issue 28)."""
    with urllib.request.urlopen(viewer + "/", timeout=10) as response:
        front = response.read().decode()
    with urllib.request.urlopen(viewer + "/prompts", timeout=10) as response:
        assert response.status == 200
        assert response.read().decode() == front


def test_the_write_endpoint_checks_method_token_origin_and_host(viewer: str, demo: Demo) -> None:
    with urllib.request.urlopen(viewer + "/logs", timeout=10) as response:
        csp = response.headers["Content-Security-Policy"]
        page = response.read().decode()
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    body = f"csrf={token}&all=1&name=probe".encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    host = viewer.removeprefix("http://")
    assert _post(viewer + "/history", body, form)[0] == 403  # no Origin
    assert _post(viewer + "/history", body, {**form, "Origin": "http://evil.example"})[0] == 403
    rebound = {**form, "Origin": "http://evil.example:1", "Host": "evil.example:1"}
    assert _post(viewer + "/history", body, rebound)[0] == 403  # DNS rebinding
    wrong = f"csrf=x{token}&all=1&name=probe".encode()
    assert _post(viewer + "/history", wrong, {**form, "Origin": viewer})[0] == 403
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(viewer + "/history?csrf=" + token, timeout=10)
    assert err.value.code == 405
    assert not (demo.root / "evals/history/probe.jsonl").exists()
    status, text = _post(viewer + "/history", f"csrf={token}&name=..%2Fx".encode(), {**form, "Origin": viewer})
    assert status == 400 and "not a dataset name" in text
    assert host.startswith("127.0.0.1:")


def test_static_export_opens_from_disk(
    browser: Any, demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLG_RUNS", str(demo.runs_dir))
    monkeypatch.chdir(demo.root)
    out = tmp_path / "site"
    result = run_cli("view", "--export", str(out), "--log", str(demo.log_path))
    assert result.code == 0, result
    browser.get((out / "index.html").as_uri())
    header = _css(browser, "header.top")[0]
    assert header.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"  # style.css loaded
    [cake] = [a for a in _css(browser, "#prompts a") if a.text == "cake"]
    _go(browser, cake)
    assert len(_css(browser, "svg#trend g.series circle")) == 9
    _go(browser, _css(browser, "header nav a")[1])
    [link] = [a for a in _css(browser, "#runs a") if a.text == TWO_MODEL_RUN]
    _go(browser, link)
    assert browser.current_url.startswith("file://")
    assert "lemon cake from claude-3-5-haiku" in _text(browser, "#grid")
    _go(browser, _css(browser, "#grid tbody tr a")[0])
    assert "lemon" in _text(browser, "pre.block")
    _go(browser, _css(browser, "header nav a")[2])
    assert len(_css(browser, "#log tbody tr")) == 7 and not _css(browser, "form")
