"""The OpenAPI explorer in a real browser without network (issue 14): Debian's headless chromium
loads `/schema/swagger` from a `serve` process, a key made by the CLI goes in through the
Authorize dialog, and one scoped call answers 200 in the page. Chromium resolves no host but
127.0.0.1, so an asset loaded from anywhere else would leave the page blank."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.explorer_page import off_host, referenced_assets
from tests.support.process import ServiceProcess, create_key
from tests.support.services import unavailable

pytestmark = pytest.mark.e2e

WAIT_S = 15


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    tmp = tmp_path_factory.mktemp("explorer")
    env = base_env(tmp)
    key = create_key(env, "explorer-admin", "admin")
    with ServiceProcess(env, tmp) as running:
        yield running, key


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium not installed (pip install -e '.[dev]')")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        unavailable("no chromium/chromedriver on PATH (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,2000", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--no-proxy-server"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=str(driver)))
    chrome.set_page_load_timeout(WAIT_S)
    try:
        yield chrome
    finally:
        chrome.quit()


def test_every_asset_the_served_page_references_comes_from_the_service(
        service: tuple[ServiceProcess, str]) -> None:
    running, _ = service
    for page in ("/schema", "/schema/swagger"):
        html = httpx.get(f"{running.base_url}{page}", timeout=10)
        assets = referenced_assets(html.text)
        assert assets and not [url for url in assets if off_host(url, str(html.url))]
        for url in assets:
            asset = httpx.get(f"{running.base_url}{url}", timeout=10)
            assert asset.status_code == 200 and asset.content, url


def test_the_explorer_makes_an_authorized_call_offline(service: tuple[ServiceProcess, str], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    running, key = service
    wait = WebDriverWait(browser, WAIT_S)

    def click(selector: str) -> None:
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, selector))).click()

    browser.get(f"{running.base_url}/schema/swagger")
    click("button.btn.authorize")
    bearer = wait.until(ec.visibility_of_element_located((By.ID, "auth-bearer-value")))
    assert browser.find_element(By.ID, "api_key_value").is_displayed()  # X-API-Key: the other way in
    bearer.send_keys(key)
    bearer.find_element(By.XPATH, "ancestor::form").find_element(
        By.CSS_SELECTOR, "button.btn.modal-btn.auth.authorize").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".auth-container h6"), "Authorized"))
    click("button.btn-done")
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".dialog-ux")))

    tasks = wait.until(ec.presence_of_element_located(
        (By.XPATH, "//div[contains(@class,'opblock-get')][.//*[@data-path='/v1/tasks']]")))
    tasks.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    operation = f"#{tasks.get_attribute('id')}"
    click(f"{operation} button.try-out__btn")
    click(f"{operation} button.execute")
    status = wait.until(ec.visibility_of_element_located(
        (By.CSS_SELECTOR, f"{operation} .live-responses-table .response .response-col_status")))
    assert status.text.strip() == "200"
    curl = browser.find_element(By.CSS_SELECTOR, f"{operation} .curl-command").text
    assert f"Authorization: Bearer {key}" in curl
    body = browser.find_element(By.CSS_SELECTOR, f"{operation} .live-responses-table").get_attribute("textContent")
    assert "receipt_fields_v1" in body

    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and [url for url in loaded if not url.startswith(running.base_url)] == []
