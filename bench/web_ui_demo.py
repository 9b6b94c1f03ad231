"""The web UI on a running twin, as a person uses it: time from clicking Write to the first words
and to the whole draft, in Debian's Chromium driven by Playwright, and a screenshot of every page.

Run it after `make run` (or `make serve`) with the service on 127.0.0.1:8000:

    .venv/bin/python bench/web_ui_demo.py [--url http://127.0.0.1:8000] [--key KEY] [--drafts 3]
        [--out test-output/demo]

Each draft is a fresh Write with the same prompt (sampling differs), so the spread is the model's
and the machine's; the page itself records both times (`data-ttft-ms`, `data-total-ms` on the
draft), measured in the browser from the click. Screenshots land in `--out`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.bento.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGES = ("write", "sources", "collect", "models", "monitoring")
PROMPT = "Write a LinkedIn post about why a pipeline that runs twice must not double the rows."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", help="an API key, when the service has TWIN_API_KEYS")
    parser.add_argument("--drafts", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "test-output" / "demo")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=args.url, viewport={"width": 1200, "height": 900})
        if args.key:
            context.add_cookies([{"name": "twin_key", "value": args.key, "url": args.url}])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/write")
        page.fill("#prompt", PROMPT)
        page.select_option("#category", "post")
        timings = []
        for n in range(args.drafts):
            page.click("#write")
            page.wait_for_selector("#draft[data-total-ms]", timeout=600_000)
            draft = page.locator("#draft")
            ttft, total = draft.get_attribute("data-ttft-ms"), draft.get_attribute("data-total-ms")
            timings.append((float(ttft) if ttft else float("nan"), float(total), len(draft.inner_text())))
            print(f"draft {n + 1}: first words after {timings[-1][0]:.0f} ms, whole draft after {total} ms, "
                  f"{timings[-1][2]} characters")
            page.screenshot(path=str(args.out / f"write-{n + 1}.png"), full_page=True)
        for name in PAGES[1:]:
            page.goto(f"/{name}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
        browser.close()
    first = [t for t, _, _ in timings if t == t]
    print(f"\nmedian over {len(timings)} drafts: first words {statistics.median(first):.0f} ms, "
          f"whole draft {statistics.median(t for _, t, _ in timings):.0f} ms")
    print(f"screenshots in {args.out}; JavaScript errors: {errors or 'none'}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
