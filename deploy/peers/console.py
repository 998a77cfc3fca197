"""The web console in a real browser (headless Chromium through Selenium): a dispatcher and a
department's staff sign in at the identity service and work a ticket through the console.

    CONSOLE_URL=http://127.0.0.1:8089 SMTP_PORT=2525 python deploy/peers/console.py

A citizen's mail (smtplib, to the email channel) without a matter code waits in the manual
dispatch queue. dispatcher1 signs in (the console's redirect, the identity service's sign-in
page, the callback), finds the ticket in the queue with its suggestions and dispatches it to
Tianhe (GZ-TH) with the chooser; th-staff1 signs in, finds it in the department portal's inbox
with its deadline, opens it (contact details masked), accepts it, replies and completes it; the
history shows each step. Then English by ?lang=en, and sign-out. No page may log a
Content-Security-Policy violation or any other console error.

Uses Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver; CHROMIUM
and CHROMEDRIVER override), never anything downloaded. SCREENSHOTS=<dir> keeps a screenshot of
each screen (docs/console/ holds the committed ones). Exits non-zero on any failure.
"""

import os
import shutil
import smtplib
import sys
import tempfile
import time
import traceback
import uuid
from email.message import EmailMessage

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CONSOLE_URL = os.environ.get("CONSOLE_URL", "http://127.0.0.1:8089").rstrip("/")
SMTP_HOST = os.environ.get("SMTP_HOST", "127.0.0.1")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "2525"))
MAILBOX = os.environ.get("MAILBOX", "12345@hotline.local")
SCREENSHOTS = os.environ.get("SCREENSHOTS")
WAIT = 60


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
        # The console's target screen.
        "--window-size=1366,768",
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # A browser in China asks for Chinese (headless Chromium ignores --lang for Accept-Language).
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def shot(driver, name):
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        # The whole page, not only the first screenful.
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1366, max(768, min(int(height) + 40, 2400)))
        driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))
        driver.set_window_size(1366, 768)


def check_console(driver, page):
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE" or "Content Security Policy" in entry.get("message", "")
    ]
    assert not problems, f"{page}: console errors {problems}"


def send_mail(marker):
    """A citizen's mail without a matter code: it waits for a person in the manual queue."""
    message = EmailMessage()
    message["From"] = "citizen@example.org"
    message["To"] = MAILBOX
    message["Subject"] = "反映情况"
    message["Message-ID"] = f"<{marker}@example.org>"
    message.set_content(f"你好，我想反映一个情况，麻烦尽快处理一下，谢谢。编号{marker}")
    with smtplib.SMTP(SMTP_HOST, SMTP_PORT, timeout=30) as smtp:
        smtp.send_message(message)


def click(wait, element_id):
    """Clicks the element once it can be clicked; htmx may swap the page under a found element,
    so a stale one is looked up again."""
    for _ in range(5):
        try:
            wait.until(ec.element_to_be_clickable((By.ID, element_id))).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.2)
    raise AssertionError(f"#{element_id} kept going stale")


def sign_in(driver, wait, username, path):
    """From a console page through the identity service's sign-in page and back."""
    driver.get(f"{CONSOLE_URL}{path}")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    shot(driver, "01-identity-sign-in") if username == "dispatcher1" else None
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(f"demo-{username}")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # The callback moves on to the page asked for; the header names the person.
    wait.until(lambda d: d.current_url.startswith(CONSOLE_URL + path) and d.find_elements(By.CSS_SELECTOR, "header .who span"))
    who = driver.find_element(By.CSS_SELECTOR, "header .who span").text
    assert username in who or "·" in who, who


def sign_out(driver, wait):
    driver.find_element(By.CSS_SELECTOR, "form[action='/auth/logout'] button").click()
    wait.until(ec.presence_of_element_located((By.ID, "sign-in")))


def queued_section(driver, marker):
    for section in driver.find_elements(By.CSS_SELECTOR, "section.queued"):
        if marker in section.text:
            return section
    return None


def main():
    marker = uuid.uuid4().hex[:10]
    send_mail(marker)
    profile = tempfile.mkdtemp(prefix="hotline-console-")
    driver = browser(profile)
    wait = WebDriverWait(driver, WAIT)
    try:
        # Not signed in: the sign-in page, in Chinese.
        driver.get(CONSOLE_URL + "/")
        lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
        assert lang == "zh-CN", f"the page is in {lang}"
        assert driver.find_element(By.ID, "sign-in").text == "登录", "no sign-in link"
        check_console(driver, "the sign-in page")

        # The dispatcher: the manual queue, the mail's ticket with its suggestions.
        sign_in(driver, wait, "dispatcher1", "/dispatch/queue")
        deadline = time.time() + WAIT
        section = None
        while section is None:
            driver.get(f"{CONSOLE_URL}/dispatch/queue")
            section = queued_section(driver, marker)
            if section is None:
                assert time.time() < deadline, "the mail's ticket never reached the manual queue"
                time.sleep(1)
        number = section.get_attribute("id").removeprefix("q-")
        assert "citizen@example.org" not in driver.find_element(By.TAG_NAME, "body").text, "the citizen's address in the queue"
        check_console(driver, "the manual queue")
        shot(driver, "02-dispatcher-manual-queue")
        chooser = section.find_element(By.ID, f"choose-{number}")
        chooser.send_keys("GZ-TH")
        chooser.find_element(By.XPATH, "./ancestor::form").find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "done=dispatch" in d.current_url or d.find_elements(By.CSS_SELECTOR, ".flash.ok"))
        wait.until(lambda d: queued_section(d, marker) is None)
        check_console(driver, "the queue after dispatching")
        shot(driver, "03-dispatcher-dispatched")

        # The ticket as the dispatcher sees it, and the return reviews and the catalogue.
        driver.get(f"{CONSOLE_URL}/dispatch/tickets/{number}")
        history = driver.find_element(By.CSS_SELECTOR, "ol.history").text
        assert "派单" in history and "GZ-TH" in history, history
        driver.get(f"{CONSOLE_URL}/dispatch/returns")
        wait.until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
        check_console(driver, "return reviews")
        shot(driver, "04-dispatcher-return-reviews")
        driver.get(f"{CONSOLE_URL}/dispatch/catalogue")
        first = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table tbody a")))
        first.click()
        wait.until(ec.presence_of_element_located((By.ID, "audit")))
        check_console(driver, "a catalogue entry")
        shot(driver, "05-dispatcher-catalogue-entry")
        sign_out(driver, wait)

        # Tianhe's staff: the inbox with the deadline, the ticket, accept, reply, complete.
        sign_in(driver, wait, "th-staff1", "/dept")
        deadline = time.time() + WAIT
        while True:
            driver.get(f"{CONSOLE_URL}/dept")
            rows = [r for r in driver.find_elements(By.CSS_SELECTOR, "#inbox tbody tr") if number in r.text]
            if rows and rows[0].find_elements(By.CSS_SELECTOR, ".due-ok, .due-warn, .due-over"):
                break
            assert time.time() < deadline, "the ticket never showed in the inbox with its deadline"
            time.sleep(1)
        check_console(driver, "the inbox")
        shot(driver, "06-department-inbox")
        rows[0].find_element(By.CSS_SELECTOR, "a").click()
        wait.until(ec.presence_of_element_located((By.ID, "act-accept")))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "citizen@example.org" not in body, "the citizen's address unmasked before a reveal"
        check_console(driver, "the ticket")
        shot(driver, "07-department-ticket")
        click(wait, "act-accept")
        reply = wait.until(ec.presence_of_element_located((By.ID, "reply-text")))
        reply.send_keys("已安排工作人员现场核实处理，问题已解决。")
        click(wait, "act-reply")
        wait.until(ec.presence_of_element_located((By.ID, "act-complete")))
        driver.find_element(By.ID, "complete-note").send_keys("办结")
        click(wait, "act-complete")
        wait.until(lambda d: "已办结" in d.find_element(By.CSS_SELECTOR, "dl.facts").text)
        history = driver.find_element(By.CSS_SELECTOR, "ol.history").text
        for step in ("签收", "答复", "办结"):
            assert step in history, f"{step} not in the history: {history}"
        check_console(driver, "the completed ticket")
        shot(driver, "08-department-completed")

        # English, remembered for the next page.
        driver.get(f"{CONSOLE_URL}/dept?lang=en")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        driver.get(f"{CONSOLE_URL}/dept")
        assert "Department portal" in driver.find_element(By.TAG_NAME, "h1").text
        shot(driver, "09-department-inbox-english")
        sign_out(driver, wait)
        print(f"console: ticket {number} dispatched by dispatcher1 and completed by th-staff1 in Chromium")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        traceback.print_exc()
        print(f"console: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
