"""The dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromedriver``, driven by Selenium):
upload a small table, race it, and see the leaderboard, its chart and the learning curves drawn, then a job's
evaluation plots, with no error in the browser's console. Screenshots of each step are written to
``$ADVISOR_UI_ARTIFACTS`` (default ``tests/artifacts/ui``, ignored by git)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ui_fixtures import LiveServer, csv_bytes, table

ARTIFACTS = Path(os.environ.get("ADVISOR_UI_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts" / "ui")


def _binary(*names: str) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


CHROMIUM = _binary("chromium", "chromium-browser")
CHROMEDRIVER = _binary("chromedriver")

try:
    import selenium  # noqa: F401

    SELENIUM = True
except ImportError:
    SELENIUM = False

pytestmark = [
    pytest.mark.skipif(not SELENIUM, reason="selenium is not installed (pip install -e '.[dev]')"),
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="Chromium and its driver are not installed (apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium look for a browser or driver online
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 1000), 6000))  # the whole page in one picture
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    driver.set_window_size(1400, 1000)


def _console_errors(driver: Any, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen += driver.get_log("browser")
    return [e for e in seen if e["level"] == "SEVERE"]


def _wait(driver: Any, timeout: float, check: Any) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The pages re-render what they poll (a race's status, its leaderboard): an element found a moment before can
    # be replaced before its text is read. That is a reason to look again, not a failure.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(check)


def _plotted(driver: Any, element_id: str) -> bool:
    """Plotly drew into the element (an SVG with at least one trace)."""
    return bool(
        driver.execute_script(
            "const el = document.getElementById(arguments[0]);"
            "return !!(el && el.querySelector('.main-svg') && el.data && el.data.length > 0);",
            element_id,
        )
    )


def test_upload_race_leaderboard_curves(browser: Any, live_server: LiveServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    log: list[dict[str, Any]] = []
    data = tmp_path / "tiny.csv"
    data.write_bytes(csv_bytes(table(80)))

    # Keyless (the embedded default): no login; the datasets page with its upload form.
    browser.get(f"{live_server.url}/ui")
    assert browser.current_url.endswith("/ui/datasets")
    assert "No datasets yet" in browser.find_element(By.ID, "datasets-table").text
    browser.find_element(By.ID, "upload-file").send_keys(str(data))
    browser.find_element(By.ID, "upload-target").send_keys("y")
    browser.find_element(By.ID, "upload-button").click()
    _wait(browser, 30, lambda d: "/ui/datasets/" in d.current_url)
    columns = browser.find_element(By.ID, "columns-table").text
    assert "colour" in columns and "categorical" in columns and "target" in columns
    _shot(browser, "1-dataset")

    # Race it: the tiny race (the top candidate, the baseline, and their ensemble when the budget holds it).
    top_k = browser.find_element(By.ID, "race-top-k")
    top_k.clear()
    top_k.send_keys("1")
    browser.find_element(By.ID, "race-budget").send_keys("20")
    browser.find_element(By.ID, "race-button").click()
    _wait(browser, 15, lambda d: "/ui/races/" in d.current_url)
    _shot(browser, "2-race-running")
    _wait(browser, 90, lambda d: d.find_element(By.ID, "race-status").text == "finished")
    _wait(browser, 15, lambda d: _plotted(d, "race-chart") and _plotted(d, "race-curves"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    assert len(rows) >= 2
    assert browser.find_element(By.ID, "race-verdict").text.strip()
    scored = [r for r in rows if r.find_elements(By.CSS_SELECTOR, ".badge.succeeded")]
    assert scored, [r.text for r in rows]
    _shot(browser, "3-race-finished")

    # The winner's job: curves, diagnosis, metrics, evaluation plots (confusion matrix, ROC), importance.
    browser.find_element(By.CSS_SELECTOR, "#leaderboard tbody tr a").click()
    _wait(browser, 15, lambda d: "/ui/jobs/" in d.current_url)
    _wait(browser, 15, lambda d: _plotted(d, "plot-a") and _plotted(d, "plot-b"))
    assert browser.find_element(By.ID, "job-status").text == "succeeded"
    assert _plotted(browser, "curves-loss") or browser.find_element(By.ID, "curves-empty").is_displayed()
    assert "roc_auc" in browser.find_element(By.ID, "metrics-table").text
    assert browser.find_element(By.ID, "diagnosis").text
    _wait(browser, 15, lambda d: _plotted(d, "importance-0"))  # the stored importance, drawn
    _shot(browser, "4-job")

    errors = _console_errors(browser, log)
    assert errors == [], errors
    assert time.monotonic() - started < 90
