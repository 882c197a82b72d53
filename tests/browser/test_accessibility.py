"""The answer page, the round builder and the results in a real browser: axe-core finds no
serious or critical problem, the pages work at 200 % zoom with no sideways scrolling and every
field in reach, and a resident answers a round of every kind with the keyboard alone, placing
a pin on the map too. Screenshots of the map on a phone go to /tmp/radslag-browser/."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from contracts.rounds import SubmitResponse
from tests.browser.conftest import Portal
from tests.portal.conftest import PASSWORD
from tests.portal.fakes import TOKEN
from tests.portal.test_staff import ROUND

SHOTS = Path("/tmp/radslag-browser")
ANSWER = f"/t/gnosjo/a/{TOKEN}"
BUILDER = "/t/gnosjo/staff/rounds/new"
RESULTS = f"/t/gnosjo/staff/rounds/{ROUND}/results"
AXE_OPTIONS = {"rules": {"dlitem": {"enabled": False}}}
"""axe-core 3.1 (what axe-selenium-python 2.1.6 bundles) predates HTML 5.2, which lets a
``<div>`` group a ``<dt>`` with its ``<dd>`` inside a ``<dl>`` (the pages' facts lists do)."""


def wait_for(check: Callable[[], Any], what: str, seconds: float = 15) -> Any:
    """Poll ``check`` until it returns something true (tests never sleep a fixed time)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def signed_in(browser: webdriver.Chrome, portal: Portal) -> None:
    """Sign in as gnosjo's panel manager (once per browser session)."""
    browser.get(f"{portal.url}/t/gnosjo/staff/")
    if not browser.find_elements(By.ID, "password"):
        return
    browser.find_element(By.ID, "username").send_keys("anna")
    browser.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    wait_for(lambda: not browser.find_elements(By.ID, "password"), "the sign-in")


def open_page(browser: webdriver.Chrome, portal: Portal, path: str) -> None:
    if path != ANSWER:
        signed_in(browser, portal)
    browser.get(portal.url + path)
    if path == ANSWER:
        wait_for(map_ready(browser), "the map's tiles")


def map_ready(browser: webdriver.Chrome) -> Callable[[], bool]:
    def ready() -> bool:
        return bool(
            browser.execute_script(
                "var t = document.querySelectorAll('.map-widget:not([hidden]) img.map-tile');"
                "return t.length > 0 && Array.prototype.every.call(t, function (i) {"
                " return i.complete && i.naturalWidth > 0; });"
            )
        )

    return ready


def from_the_top(browser: webdriver.Chrome) -> None:
    """Start the next Tab from the top of the page."""
    browser.execute_script(
        "window.scrollTo(0, 0); if (document.activeElement) document.activeElement.blur();"
    )


@pytest.fixture
def zoomed(browser: webdriver.Chrome) -> Iterator[None]:
    """200 % zoom: a 1280 px wide window shows 640 CSS px at twice the pixels."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 640, "height": 450, "deviceScaleFactor": 2, "mobile": False},
    )
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.parametrize("path", [ANSWER, BUILDER, RESULTS], ids=["answer", "builder", "results"])
def test_axe_finds_no_serious_or_critical_problem(
    browser: webdriver.Chrome, portal: Portal, path: str
) -> None:
    open_page(browser, portal, path)
    axe = Axe(browser)
    axe.inject()
    found = axe.run(options=json.dumps(AXE_OPTIONS))
    serious = [v for v in found["violations"] if v["impact"] in ("serious", "critical")]
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in serious
    )
    assert not serious, report


def _focusable(browser: webdriver.Chrome) -> list[WebElement]:
    found: list[WebElement] = browser.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll("
        "'main input:not([type=hidden]), main select, main textarea, main button, main a[href],"
        ' main [tabindex="0"]\'), function (el) {'
        " return !el.disabled && el.checkVisibility(); });"
    )
    return found


@pytest.mark.usefixtures("zoomed")
@pytest.mark.parametrize("path", [ANSWER, BUILDER, RESULTS], ids=["answer", "builder", "results"])
def test_at_200_percent_nothing_scrolls_sideways_and_every_field_is_reached_by_tab(
    browser: webdriver.Chrome, portal: Portal, path: str
) -> None:
    open_page(browser, portal, path)
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
    )
    assert overflow <= 0, f"{path} scrolls sideways by {overflow} CSS px at 200 %"
    wanted = _focusable(browser)
    assert wanted
    # A group of radios is one stop for Tab (the arrow keys move within it).
    stops = {
        (el.get_attribute("name") if el.get_attribute("type") == "radio" else el.id): el
        for el in wanted
    }
    reached: set[str] = set()
    from_the_top(browser)
    keys = ActionChains(browser)
    for _ in range(2 * len(stops) + 40):
        keys.send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        reached.add(
            active.get_attribute("name") if active.get_attribute("type") == "radio" else active.id
        )
        if set(stops) <= reached:
            break
    missed = [
        el.get_attribute("outerHTML")[:120] for key, el in stops.items() if key not in reached
    ]
    assert not missed, f"not reached with Tab on {path}: {missed}"
    if path == ANSWER:
        SHOTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(SHOTS / "answer-200-percent.png"))


def _tab_to(
    browser: webdriver.Chrome, found: Callable[[WebElement], bool], what: str
) -> WebElement:
    keys = ActionChains(browser)
    for _ in range(120):
        keys.send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        if found(active):
            return active
    raise AssertionError(f"Tab never reached {what}")


def _is(attribute: str, value: str) -> Callable[[WebElement], bool]:
    return lambda el: el.get_attribute(attribute) == value


def test_a_round_of_every_kind_is_answered_with_the_keyboard_alone(
    browser: webdriver.Chrome, portal: Portal
) -> None:
    browser.set_window_size(1280, 900)
    open_page(browser, portal, ANSWER)
    keys = ActionChains(browser)

    def press(*typed: str) -> None:
        keys.send_keys(*typed).perform()

    from_the_top(browser)
    _tab_to(browser, _is("id", "park-1"), "the yes/no question")
    press(Keys.SPACE)
    _tab_to(browser, _is("id", "how-2"), "the second pick")
    press(Keys.SPACE)
    _tab_to(browser, _is("name", "happy"), "the scale")
    press(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)  # 1 → 4
    _tab_to(browser, _is("id", "visits-value"), "the number")
    press("12")
    _tab_to(browser, _is("id", "why-text"), "the free text")
    press("Skuggan")
    for place, option in (("1", 0), ("2", 1), ("3", 2)):
        _tab_to(browser, _is("id", f"rank-{option}"), f"ranking {option}")
        press(place)
    _tab_to(browser, _is("id", "place-map"), "the map")
    press(Keys.ARROW_RIGHT, Keys.ARROW_DOWN, "+", Keys.ENTER)
    status = browser.find_element(By.CSS_SELECTOR, "[data-map-status]")
    wait_for(lambda: "1" in status.text or "1" in status.get_attribute("textContent"), "the news")
    _tab_to(browser, _is("id", "place-0-category"), "the pin's kind")
    press("D")  # Danger
    _tab_to(browser, _is("id", "place-0-comment"), "the pin's comment")
    press("Korsningen")
    _tab_to(browser, lambda el: el.get_attribute("type") == "submit", "the send button")
    press(Keys.ENTER)
    sent = wait_for(lambda: portal.gateway.sent(SubmitResponse), "the answers")
    answers = sent[-1].model_dump(mode="json", exclude_none=True)["answers"]
    assert answers["park"] == "yes"
    assert answers["how"] == ["Bike"]
    assert answers["happy"] == 4
    assert answers["visits"] == 12
    assert answers["why"] == "Skuggan"
    assert answers["rank"] == ["Toilets", "Lights", "Benches"]
    [pin] = answers["place"]
    assert pin["category"] == "Danger"
    assert pin["comment"] == "Korsningen"
    # Moved a little east and south of the centre (57.36, 13.74), then zoomed in.
    assert 57.30 < pin["lat"] < 57.36
    assert 13.74 < pin["lon"] < 13.80


def test_the_map_on_a_phone(browser: webdriver.Chrome, portal: Portal) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        open_page(browser, portal, ANSWER)
        view = browser.find_element(By.ID, "place-map")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", view)
        ActionChains(browser).move_to_element_with_offset(view, 40, -30).click().perform()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".map-marker"), "the pin's marker")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
        )
        assert overflow <= 0
        SHOTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(SHOTS / "map-phone.png"))
        assert not browser.find_element(By.ID, "place-0-category").get_attribute("hidden")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_when_no_tile_loads_the_places_are_chosen_by_district(
    browser: webdriver.Chrome, portal: Portal
) -> None:
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/tiles/*"]})
    try:
        browser.get(portal.url + ANSWER)
        widget = browser.find_element(By.CSS_SELECTOR, ".map-widget")
        wait_for(lambda: widget.get_attribute("hidden") is not None, "the map to step aside")
        for slot in browser.find_elements(By.CSS_SELECTOR, "fieldset.pin"):
            assert slot.is_displayed()
        assert browser.find_element(By.ID, "place-1-district").is_displayed()
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        browser.execute_cdp_cmd("Network.disable", {})


def test_the_results_show_the_pins_on_the_map(browser: webdriver.Chrome, portal: Portal) -> None:
    open_page(browser, portal, RESULTS)
    chart = browser.find_element(By.ID, "pin-map-place")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
    assert len(chart.find_elements(By.TAG_NAME, "circle")) >= 2
    assert chart.find_elements(By.TAG_NAME, "image")
    SHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SHOTS / "results-pins.png"))
