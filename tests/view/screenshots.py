"""Screenshots of each viewer page for docs/: the demo repository served and photographed in headless Chromium.

Usage: python -m tests.view.screenshots [DIR]   (default docs/viewer)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.view.browser import chromium, serving
from tests.view.demo import TWO_MODEL_RUN, build_demo


def _run_of_version(runs_dir: Path, version: int) -> str:
    for path in sorted(runs_dir.glob("*.jsonl")):
        header = json.loads(path.read_text().splitlines()[0])
        if header["version"] == version and header["models"] == ["plg/offline"]:
            return path.stem
    raise SystemExit(f"no run of v{version}")


def main() -> None:
    from plg.view.app import create_app
    from plg.view.site import Site

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/viewer")
    out.mkdir(parents=True, exist_ok=True)
    demo = build_demo(Path(tempfile.mkdtemp(prefix="plg-view-shots-")))
    site = Site.open(demo.root, demo.log_path, demo.runs_dir)
    first, last = _run_of_version(demo.runs_dir, 1), _run_of_version(demo.runs_dir, 3)
    pages = {
        "prompts": "/",
        "prompt": "/prompt/cake?a=1&b=3",
        "runs": "/runs",
        "grid": f"/run/{TWO_MODEL_RUN}",
        "row": f"/run/{last}/row/1",
        "compare": f"/compare?a={first}&b={last}&changed=1",
        "logs": "/logs?prompt=cake",
    }
    with serving(create_app(site)) as url, chromium() as driver:
        driver.set_window_size(1200, 800)
        for name, path in pages.items():
            driver.get(url + path)
            driver.save_screenshot(str(out / f"{name}.png"))
            print(f"{out / name}.png {(out / f'{name}.png').stat().st_size // 1024} KB")
        driver.get(url + "/logs?prompt=cake")
        link = driver.find_elements("css selector", "#log tbody tr a")[0]
        driver.get(link.get_attribute("href"))
        driver.save_screenshot(str(out / "request.png"))
    site.close()


if __name__ == "__main__":
    main()
