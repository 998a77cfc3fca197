"""A citizen in a real browser against the web page (headless Chromium through Selenium).

    WEB_URL=http://127.0.0.1:8080/ python deploy/peers/web_page.py

Opens the page, picks a category, fills in the description, the address and the phone number,
attaches a PNG, sends the form, reads the ticket number from the receipt, then looks the ticket
up by its number and the phone's last 4 digits and reads its status; a wrong ending gets "not
found". Uses Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver;
CHROMIUM and CHROMEDRIVER override), never anything downloaded. Exits non-zero on any failure.

CATEGORY picks the service code (default 01.01.001 of the demo catalogue, else the first one
offered); SCREENSHOTS=<dir> keeps a screenshot of each page.
"""

import os
import re
import shutil
import struct
import sys
import tempfile
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

WEB_URL = os.environ.get("WEB_URL", "http://127.0.0.1:8080/").rstrip("/") + "/"
CATEGORY = os.environ.get("CATEGORY", "01.01.001")
SCREENSHOTS = os.environ.get("SCREENSHOTS")
PHONE = "139 1234 5678"
LAST4 = "5678"
WAIT = 30


def png(width=4, height=3):
    """A small real PNG (RGB, a red-to-blue gradient), made here so nothing is fetched."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((255 - 60 * x, 0, 60 * x)) for x in range(width)) for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def browser(profile):
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1000,1400",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # The console shows Content-Security-Policy violations: the page must have none.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def shot(driver, name):
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))


def check_console(driver, page):
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE" or "Content Security Policy" in entry.get("message", "")
    ]
    assert not problems, f"{page}: console errors {problems}"


def main():
    profile = tempfile.mkdtemp(prefix="hotline-chromium-")
    photo_dir = tempfile.mkdtemp(prefix="hotline-photo-")
    photo = os.path.join(photo_dir, "streetlight.png")
    with open(photo, "wb") as f:
        f.write(png())
    driver = browser(profile)
    wait = WebDriverWait(driver, WAIT)
    try:
        driver.get(WEB_URL)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        category = Select(driver.find_element(By.ID, "category"))
        codes = [o.get_attribute("value") for o in category.options if o.get_attribute("value")]
        assert codes, "the category picker offers nothing"
        code = CATEGORY if CATEGORY in codes else codes[0]
        category.select_by_value(code)
        # Every visible input has its label (what a screen reader announces).
        for element in driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select, textarea"):
            element_id = element.get_attribute("id")
            assert driver.find_elements(By.CSS_SELECTOR, f'label[for="{element_id}"]'), f"no label for {element_id}"
        driver.find_element(By.ID, "description").send_keys("路灯不亮，晚上很黑。The street light is out.")
        driver.find_element(By.ID, "address").send_keys("广州市海珠区滨江东路1号")
        driver.find_element(By.ID, "name").send_keys("李四")
        driver.find_element(By.ID, "phone").send_keys(PHONE)
        driver.find_element(By.ID, "photos").send_keys(photo)
        check_console(driver, "the form")
        shot(driver, "1-form")
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

        number = wait.until(ec.presence_of_element_located((By.ID, "ticket-no"))).text.strip()
        assert re.fullmatch(r"\d{16}", number), f"not a ticket number: {number!r}"
        stored = driver.find_element(By.ID, "photos-stored").text
        assert "streetlight.png" in stored, stored
        body = driver.find_element(By.TAG_NAME, "body").text
        for personal in ("1391234", "李四", "滨江东路"):
            assert personal not in body, f"{personal} on the receipt"
        check_console(driver, "the receipt")
        shot(driver, "2-receipt")

        # The receipt's link fills the number in; the citizen adds the phone's last 4 digits.
        driver.find_element(By.CSS_SELECTOR, 'a[href^="/progress?ticket_no="]').click()
        field = wait.until(ec.presence_of_element_located((By.ID, "ticket_no")))
        assert field.get_attribute("value") == number, field.get_attribute("value")
        driver.find_element(By.ID, "last4").send_keys(LAST4)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        status = wait.until(ec.presence_of_element_located((By.ID, "status"))).text.strip()
        assert status, "no status"
        steps = driver.find_elements(By.CSS_SELECTOR, "#timeline li")
        assert steps and "已受理" in steps[0].text, [s.text for s in steps]
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "路灯不亮" not in body and "1391234" not in body, "personal data on the progress page"
        check_console(driver, "the progress page")
        shot(driver, "3-progress")

        # A wrong ending: not found, and no status.
        driver.get(f"{WEB_URL}progress?ticket_no={number}&last4=0000")
        alert = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]"))).text
        assert "没有找到" in alert, alert
        assert not driver.find_elements(By.ID, "status")
        shot(driver, "4-not-found")
        print(f"web page: ticket {number} ({code}) filed with a photo in Chromium, status {status!r}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(photo_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"web page: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
