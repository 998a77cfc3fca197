"""The web console in a real browser (headless Chromium through Selenium): each role signs in at
the identity service and works through its screens.

    CONSOLE_URL=http://127.0.0.1:8089 SMTP_PORT=2525 PHONE_URL=http://127.0.0.1:8084 \
        KNOWLEDGE_URL=http://127.0.0.1:8085 OPEN311_BASE=http://127.0.0.1:8080/open311/v2 \
        python deploy/peers/console.py

Two citizens' mails (smtplib, to the email channel) without a matter code wait in the manual
dispatch queue. dispatcher1 signs in (the console's redirect, the identity service's sign-in
page, the callback), finds them in the queue with their suggestions and dispatches both to
Tianhe (GZ-TH) with the chooser; th-staff1 signs in, finds them in the department portal's
inbox with their deadlines, opens the first (contact details masked), accepts it, replies and
completes it; the history shows each step. English by ?lang=en. The second is accepted and an
extension asked for (申请延期).

Then agent1 at the agent desk (its own browser): a call posted to the phone channel's CTI webhook
(PHONE_URL, CTI_TOKEN) appears on the open desk live, without a reload; on the call's page the
typed request brings knowledge suggestions, and the agent answers on the spot and finishes, then
finds the call's ticket with the desk's ticket search (/agent/tickets).

Then the knowledge review (its own browser): an item of Tianhe's, made and published through the
knowledge API as the centre (KNOWLEDGE_URL, the demo's centre token), is edited by th-staff1 in
the department portal (the list, the item, the edit form) and submitted; kb-centre1, the centre's
knowledge editor, finds it in the review queue, opens it (the diff shows the new answer beside
the published one) and publishes it; the public tree then answers the new text.

Then supervisor1 (its own browser): the live board (today's contacts by channel, answer rate,
on-time completion and overdue, the backlog per department, satisfaction, the pending extension
request), approves the request with a note (the ticket's history shows the decision), the 通报
report with its CSV (UTF-8 BOM, the header) and PDF downloads (fetched with the browser's
session cookie), and 社情民意: the districts' map drawn by ECharts under the strict CSP, the
rising classes (an Open311 report at OPEN311_BASE gives this month a class).

Every main screen is also laid out at two tablet sizes (1024x768, 768x1024): nothing may be
wider than the window. No page may log a Content-Security-Policy violation or any other console
error.

Uses Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver; CHROMIUM
and CHROMEDRIVER override), never anything downloaded. SCREENSHOTS=<dir> keeps a screenshot of
each screen at 1366x768 and a few at tablet sizes (docs/console/ holds the committed ones).
Exits non-zero on any failure.
"""

import json
import os
import re
import shutil
import smtplib
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from email.message import EmailMessage

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

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


# The console's target screen, and the tablets it must also work on.
DESKTOP = (1366, 768)
TABLETS = {"tablet-landscape": (1024, 768), "tablet-portrait": (768, 1024)}


def waiter(driver):
    """A wait that polls again when htmx or a redirect replaced the element being read (a stale
    element is a page still changing, not a failure); not found is ignored as by default."""
    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,))


def resize(driver, width, height):
    """The window at this size, once the page has been laid out at the new width (the driver
    answers before the renderer has the new viewport)."""
    driver.set_window_size(width, height)
    deadline = time.time() + 5
    while driver.execute_script("return window.innerWidth") != width and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # a chart's resize handler


def shot(driver, name, size=DESKTOP):
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        width, height = size
        resize(driver, width, height)
        # The whole page, not only the first screenful (the window's height includes what the
        # browser itself takes).
        full, inner, outer = driver.execute_script(
            "return [document.documentElement.scrollHeight, window.innerHeight, window.outerHeight]"
        )
        resize(driver, width, max(height, min(int(full) + int(outer) - int(inner), 2400)))
        driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))
        resize(driver, *DESKTOP)


def fits(driver, page, tablet_shot=None):
    """The page at 1366x768 and at both tablet sizes: nothing wider than the window (a wide
    table may scroll inside its own box, the page may not). tablet_shot=(size name, file name)
    keeps a screenshot at that tablet size."""
    for name, (width, height) in [("desktop", DESKTOP), *TABLETS.items()]:
        resize(driver, width, height)
        scroll, inner = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        if scroll > inner:
            wide = driver.execute_script(
                """const w = window.innerWidth; const out = [];
                for (const e of document.body.querySelectorAll('*')) {
                  const r = e.getBoundingClientRect();
                  if (r.right > w + 1 && out.length < 5) out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '') + ' ' + Math.round(r.right));
                }
                return out;"""
            )
            raise AssertionError(f"{page} at {name} {width}x{height}: {scroll}px wide in a {inner}px window ({wide})")
        if tablet_shot and tablet_shot[0] == name:
            shot(driver, tablet_shot[1], (width, height))
    resize(driver, *DESKTOP)


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


def queued_number(driver, marker):
    """The queued ticket of the mail with this marker (the queue reloaded until it shows)."""
    deadline = time.time() + WAIT
    while True:
        driver.get(f"{CONSOLE_URL}/dispatch/queue")
        section = queued_section(driver, marker)
        if section is not None:
            return section, section.get_attribute("id").removeprefix("q-")
        assert time.time() < deadline, "the mail's ticket never reached the manual queue"
        time.sleep(1)


def dispatch_to(driver, wait, section, number, department):
    chooser = section.find_element(By.ID, f"choose-{number}")
    chooser.send_keys(department)
    chooser.find_element(By.XPATH, "./ancestor::form").find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: f"q-{number}" not in d.page_source and ("done=dispatch" in d.current_url or d.find_elements(By.CSS_SELECTOR, ".flash.ok")))


def inbox_row(driver, number):
    """Tianhe's inbox reloaded until the ticket shows with its deadline."""
    deadline = time.time() + WAIT
    while True:
        driver.get(f"{CONSOLE_URL}/dept")
        rows = [r for r in driver.find_elements(By.CSS_SELECTOR, "#inbox tbody tr") if number in r.text]
        if rows and rows[0].find_elements(By.CSS_SELECTOR, ".due-ok, .due-warn, .due-over"):
            return rows[0]
        assert time.time() < deadline, f"ticket {number} never showed in the inbox with its deadline"
        time.sleep(1)


def main():
    """The dispatcher and Tianhe's staff. Returns the ticket whose extension request waits for
    the supervisor."""
    marker = uuid.uuid4().hex[:10]
    send_mail(marker)
    # A second mail: Tianhe accepts it and asks for more time (the supervisor decides).
    marker2 = uuid.uuid4().hex[:10]
    send_mail(marker2)
    profile = tempfile.mkdtemp(prefix="hotline-console-")
    driver = browser(profile)
    wait = waiter(driver)
    try:
        # Not signed in: the sign-in page, in Chinese.
        driver.get(CONSOLE_URL + "/")
        lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
        assert lang == "zh-CN", f"the page is in {lang}"
        assert driver.find_element(By.ID, "sign-in").text == "登录", "no sign-in link"
        check_console(driver, "the sign-in page")

        # The dispatcher: the manual queue, the mail's ticket with its suggestions.
        sign_in(driver, wait, "dispatcher1", "/dispatch/queue")
        _, number2 = queued_number(driver, marker2)
        section, number = queued_number(driver, marker)
        assert "citizen@example.org" not in driver.find_element(By.TAG_NAME, "body").text, "the citizen's address in the queue"
        check_console(driver, "the manual queue")
        shot(driver, "02-dispatcher-manual-queue")
        fits(driver, "the manual queue")
        section = queued_section(driver, marker)
        dispatch_to(driver, wait, section, number, "GZ-TH")
        wait.until(lambda d: queued_section(d, marker) is None)
        check_console(driver, "the queue after dispatching")
        shot(driver, "03-dispatcher-dispatched")
        section, _ = queued_number(driver, marker2)
        dispatch_to(driver, wait, section, number2, "GZ-TH")
        check_console(driver, "the queue after dispatching the second")

        # The ticket as the dispatcher sees it, and the return reviews and the catalogue.
        driver.get(f"{CONSOLE_URL}/dispatch/tickets/{number}")
        history = driver.find_element(By.CSS_SELECTOR, "ol.history").text
        assert "派单" in history and "GZ-TH" in history, history
        fits(driver, "the dispatcher's ticket")
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
        inbox_row(driver, number2)
        row = inbox_row(driver, number)
        check_console(driver, "the inbox")
        shot(driver, "06-department-inbox")
        fits(driver, "the inbox")
        row = inbox_row(driver, number)
        row.find_element(By.CSS_SELECTOR, "a").click()
        wait.until(ec.presence_of_element_located((By.ID, "act-accept")))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "citizen@example.org" not in body, "the citizen's address unmasked before a reveal"
        check_console(driver, "the ticket")
        shot(driver, "07-department-ticket")
        fits(driver, "the department's ticket")
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
        driver.get(f"{CONSOLE_URL}/dept?lang=zh")

        # The second ticket: accepted, then more time asked for (the supervisor decides).
        driver.get(f"{CONSOLE_URL}/dept/tickets/{number2}")
        click(wait, "act-accept")
        reason = wait.until(ec.presence_of_element_located((By.ID, "extension-reason")))
        reason.send_keys("需协调多个部门现场勘查")
        # A date input's typing follows the browser's locale: set the value itself.
        until = time.strftime("%Y-%m-%d", time.localtime(time.time() + 20 * 86400))
        driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, "extension-until"), until)
        click(wait, "act-extension")
        wait.until(lambda d: "申请延期" in d.find_element(By.CSS_SELECTOR, "ol.history").text)
        # Once the SLA service has the request, the page says it is pending and offers no second
        # one (the page drawn right after the step may precede it).
        deadline = time.time() + WAIT
        while driver.find_elements(By.ID, "act-extension"):
            assert time.time() < deadline, "a second extension still offered while one is pending"
            time.sleep(1)
            driver.get(f"{CONSOLE_URL}/dept/tickets/{number2}")
        check_console(driver, "the extension request")
        sign_out(driver, wait)
        print(f"console: ticket {number} dispatched by dispatcher1 and completed by th-staff1 in Chromium; {number2} waits for an extension decision")
        return number2
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


KNOWLEDGE_URL = os.environ.get("KNOWLEDGE_URL", "http://127.0.0.1:8085").rstrip("/")
# The demo's centre token (a department system's credential, as in the local run only).
CENTRE_TOKEN = os.environ.get("CENTRE_TOKEN", "demo-gz-centre")


def knowledge_api(method, path, body=None, token=CENTRE_TOKEN):
    """The knowledge API as the centre's system; returns the status and the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{KNOWLEDGE_URL}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def published_answer(code):
    """The published answer of the item's first answer, as agents and citizens get it."""
    status, body = knowledge_api("GET", f"/v1/items/{code}/tree?node={code}-A1", token=None)
    assert status == 200, f"the tree of {code}: {status} {body}"
    return body["answer"]["answer"]


def knowledge_review():
    """Tianhe's editor edits and submits an item in the department portal; the centre's
    knowledge editor reviews and publishes it (its own browser)."""
    code = f"TH{uuid.uuid4().int % 1000000000}"
    first = "请携带身份证到天河区政务服务中心办理。"
    changed = "请携带身份证和户口簿到天河区政务服务中心办理，可先在网上预约。"
    item = {
        "code": code, "title": "天河区居民证明开具", "class": "consultation", "matter_code": "01.01.002",
        "owner": "GZ-TH",
        "nodes": [
            {"kind": "situation", "code": f"{code}-S1", "label": "本区户籍居民", "children": [
                {"kind": "answer", "code": f"{code}-A1", "title": "本区户籍居民的答复", "answer": first,
                 "departments": ["GZ-TH"], "materials": ["身份证"], "time_limit": "即时办结"},
            ]},
            {"kind": "answer", "code": f"{code}-A2", "title": "其他情况", "answer": "请拨打12345咨询。"},
        ],
    }
    status, body = knowledge_api("PUT", f"/v1/items/{code}/draft?submit=true", item)
    assert status == 200, f"the centre's draft of {code}: {status} {body}"
    status, body = knowledge_api("POST", f"/v1/items/{code}/publish", {"note": "browser test item"})
    assert status == 200, f"publishing {code}: {status} {body}"
    assert published_answer(code) == first

    profile = tempfile.mkdtemp(prefix="hotline-console-knowledge-")
    driver = browser(profile)
    wait = waiter(driver)
    try:
        # Tianhe's editor: the list, the item, the edit form, saved and submitted.
        sign_in(driver, wait, "th-staff1", "/dept/knowledge")
        link = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#items a[href='/dept/knowledge/{code}']")))
        check_console(driver, "the knowledge list")
        shot(driver, "16-department-knowledge-list")
        fits(driver, "the knowledge list")
        link.click()
        wait.until(ec.presence_of_element_located((By.ID, "edit")))
        assert first in driver.find_element(By.ID, "published").text
        check_console(driver, "a knowledge item")
        fits(driver, "a knowledge item")
        click(wait, "edit")
        answer = wait.until(ec.presence_of_element_located((By.ID, f"l.{code}-A1.answer")))
        answer.clear()
        answer.send_keys(changed)
        check_console(driver, "the edit form")
        shot(driver, "17-department-knowledge-edit")
        fits(driver, "the edit form")
        answer = driver.find_element(By.ID, f"l.{code}-A1.answer")
        answer.clear()
        answer.send_keys(changed)
        click(wait, "save")
        wait.until(lambda d: "done=saved" in d.current_url and d.find_elements(By.ID, "submit"))
        assert changed in driver.find_element(By.ID, "working").text
        click(wait, "submit")
        wait.until(lambda d: "done=submitted" in d.current_url)
        wait.until(lambda d: "已提交审核" in d.find_element(By.TAG_NAME, "main").text)
        assert not driver.find_elements(By.ID, "edit"), "editing offered while in review"
        check_console(driver, "the submitted item")
        shot(driver, "18-department-knowledge-submitted")
        sign_out(driver, wait)

        # The centre's knowledge editor: the queue, the item with the diff, published.
        sign_in(driver, wait, "kb-centre1", "/knowledge/review")
        nav = driver.find_element(By.CSS_SELECTOR, "header nav").text
        assert "知识审核" in nav and "部门工作台" not in nav, nav
        row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#review-queue a[href='/knowledge/review/{code}']")))
        check_console(driver, "the review queue")
        shot(driver, "19-centre-review-queue")
        fits(driver, "the review queue")
        row.click()
        diff = wait.until(ec.presence_of_element_located((By.ID, "review-diff")))
        assert first in diff.text and changed in diff.text, diff.text
        assert changed in driver.find_element(By.ID, "submitted").text
        assert first in driver.find_element(By.ID, "published").text
        check_console(driver, "the review page")
        shot(driver, "20-centre-review-item")
        fits(driver, "the review page", ("tablet-portrait", "tablet-portrait-centre-review-item"))
        driver.find_element(By.ID, "publish-note").send_keys("内容准确，同意发布")
        click(wait, "publish")
        done = wait.until(ec.presence_of_element_located((By.ID, "done")))
        assert "已发布" in done.text, done.text
        assert not driver.find_elements(By.ID, "publish-form"), "still offered for publishing"
        assert changed in driver.find_element(By.ID, "published").text
        check_console(driver, "the published item")
        shot(driver, "21-centre-review-published")
        fits(driver, "the published item")
        assert published_answer(code) == changed, "the published answer did not change"
        sign_out(driver, wait)
        print(f"console: th-staff1 edited and submitted knowledge item {code}; kb-centre1 reviewed the diff and published it")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


PHONE_URL = os.environ.get("PHONE_URL", "http://127.0.0.1:8084").rstrip("/")
CTI_TOKEN = os.environ.get("CTI_TOKEN", "demo-cti-token")


def cti(event, call_id, caller):
    """The call platform's CTI webhook (Zammad's generic form) for agent1."""
    data = urllib.parse.urlencode(
        {"event": event, "from": caller, "to": "12345", "direction": "in", "callId": call_id, "user": "agent1"}
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{PHONE_URL}/cti/{CTI_TOKEN}", data=data), timeout=30) as r:
        assert r.status == 200, f"CTI {event}: {r.status}"


def agent_desk():
    """agent1 at the agent desk (接线员工作台), in a browser of its own: a call rings and is answered
    while the desk is open, and appears on it live (server-sent events; the page is not
    reloaded); on the call's page the typed request brings knowledge suggestions, the agent opens
    an answer and answers on the spot (Alt+A's button), then finishes the call."""
    profile = tempfile.mkdtemp(prefix="hotline-console-agent-")
    driver = browser(profile)
    wait = waiter(driver)
    caller = "139" + str(uuid.uuid4().int % 100000000).zfill(8)
    call_id = "peer-" + uuid.uuid4().hex[:12]
    try:
        sign_in(driver, wait, "agent1", "/agent")
        wait.until(ec.presence_of_element_located((By.ID, "live-calls")))
        shortcuts = driver.find_element(By.ID, "shortcuts").text
        assert "Alt+A" in shortcuts and "Alt+F" in shortcuts, shortcuts
        # A mark on this very page: a reload would lose it.
        driver.execute_script("window.hotlineDeskMark = 'still here'")
        time.sleep(2)  # the feed is connected and has sent the (empty) list
        cti("newCall", call_id, caller)
        cti("answer", call_id, caller)
        row = wait.until(ec.presence_of_element_located((By.ID, f"call-{call_id}")))
        assert driver.execute_script("return window.hotlineDeskMark") == "still here", "the desk was reloaded"
        masked = caller[:3] + "****" + caller[-4:]
        assert masked in row.text and caller not in driver.find_element(By.TAG_NAME, "body").text, row.text
        check_console(driver, "the agent desk")
        shot(driver, "10-agent-desk")
        fits(driver, "the agent desk")
        row = driver.find_element(By.ID, f"call-{call_id}")

        row.find_element(By.CSS_SELECTOR, "a").click()
        description = wait.until(ec.presence_of_element_located((By.ID, "description")))
        description.send_keys("孩子刚出生，想问新生儿怎么参加医保")
        # Suggestions follow the typing (keyup, 300 ms), without a click.
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#suggestions li.hit")))
        driver.find_element(By.CSS_SELECTOR, "#suggestions li.hit a.button").click()
        wait.until(ec.presence_of_element_located((By.ID, "answer-form")))
        assert driver.find_element(By.ID, "answer").get_attribute("accesskey") == "a"
        check_console(driver, "the call page")
        shot(driver, "11-agent-call")
        fits(driver, "the call page", ("tablet-portrait", "tablet-portrait-agent-call"))
        click(wait, "answer")
        done = wait.until(ec.presence_of_element_located((By.ID, "done")))
        assert "已直接答复" in done.text, done.text
        facts = driver.find_element(By.ID, "call-facts").text
        check_console(driver, "the answered call")
        shot(driver, "12-agent-answered")
        # The call's ticket (the facts name it), to find with the ticket search below.
        numbers = re.findall(r"\b\d{10,}\b", facts)
        assert numbers, f"the answered call names no ticket: {facts}"
        click(wait, "finish")
        wait.until(lambda d: "done=finish" in d.current_url)
        check_console(driver, "the desk after the call")

        # The ticket search on the desk: the answered tickets since today (this machine's day,
        # never after the city's) hold the call's.
        wait.until(ec.presence_of_element_located((By.ID, "ticket-search")))
        Select(driver.find_element(By.ID, "ts-status")).select_by_value("answered")
        today = time.strftime("%Y-%m-%d")
        driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, "ts-from"), today)
        driver.find_element(By.CSS_SELECTOR, "#ticket-search button[type=submit]").click()
        results = wait.until(ec.presence_of_element_located((By.ID, "ticket-results")))
        assert "/agent/tickets" in driver.current_url and "status=answered" in driver.current_url, driver.current_url
        assert numbers[0] in results.text, f"ticket {numbers[0]} not found: {results.text[:400]}"
        assert "已直接答复" in results.text, results.text[:400]
        check_console(driver, "the ticket search")
        shot(driver, "22-agent-ticket-search")
        fits(driver, "the ticket search")
        sign_out(driver, wait)
        print(f"console: call {call_id} arrived live on agent1's desk and was answered on the spot ({facts.splitlines()[-1] if facts else ''}); its ticket {numbers[0]} found by the ticket search")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


OPEN311_BASE = os.environ.get("OPEN311_BASE", "").rstrip("/")
API_KEY = os.environ.get("API_KEY", "demo-open311-key")


def file_open311(service_code, address, text):
    """A citizen's report with a matter code through Open311 (a class for the hotspots)."""
    data = urllib.parse.urlencode(
        {"api_key": API_KEY, "service_code": service_code, "address_string": address, "description": text}
    ).encode()
    request = urllib.request.Request(f"{OPEN311_BASE}/requests.json", data=data, headers={"Idempotency-Key": f"console-{uuid.uuid4().hex}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.status == 201, f"Open311: {r.status}"


def first_service_code():
    with urllib.request.urlopen(f"{OPEN311_BASE}/services.json", timeout=30) as r:
        services = json.load(r)
    return next(s["service_code"] for s in services if s.get("group") == "城乡建设")


def fetch(driver, path):
    """A download as the signed-in browser: its cookies (the session is HttpOnly, which the
    driver still reads) on a plain HTTP request; returns the status, headers and bytes."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    request = urllib.request.Request(CONSOLE_URL + path, headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.status, r.headers, r.read()


def supervisor(extension_ticket):
    """supervisor1 (督办), in a browser of its own: the live board (today's contacts by channel,
    the answer rate, on-time completion and overdue, the backlog per department, satisfaction,
    the pending extension request from the department portal), approves that request with a
    note, opens the 通报 report and downloads it as CSV and PDF, and 社情民意: the districts'
    map drawn by ECharts (under the strict CSP) and the rising classes."""
    if OPEN311_BASE:
        file_open311(first_service_code(), "广州市天河区天河北路233号", "人行道井盖松动，行人容易绊倒")
    profile = tempfile.mkdtemp(prefix="hotline-console-supervisor-")
    driver = browser(profile)
    wait = waiter(driver)
    try:
        sign_in(driver, wait, "supervisor1", "/supervisor")
        # The board: the request shows once the SLA service has it (the page is reloaded; it
        # also polls itself every 20 s).
        deadline = time.time() + WAIT
        while not driver.find_elements(By.ID, f"ext-{extension_ticket}"):
            assert time.time() < deadline, f"the extension request of {extension_ticket} never showed on the board"
            time.sleep(1)
            driver.get(f"{CONSOLE_URL}/supervisor")
        board = driver.find_element(By.ID, "board")
        assert board.get_attribute("hx-trigger") == "every 20s", "the board does not refresh itself"
        figures = {}
        for tile in ("fig-contacts", "fig-answer", "fig-ontime", "fig-satisfaction"):
            text = driver.find_element(By.ID, tile).text
            assert "暂不可用" not in text, f"{tile}: {text}"
            figures[tile] = " ".join(text.split())
        contacts = int(driver.find_element(By.CSS_SELECTOR, "#fig-contacts .big").text)
        assert contacts >= 3, f"today's contacts: {figures['fig-contacts']}"
        assert "邮件" in figures["fig-contacts"] or "email" in figures["fig-contacts"].lower(), figures["fig-contacts"]
        assert "当前超期" in figures["fig-ontime"], figures["fig-ontime"]
        tianhe = driver.find_element(By.ID, "dept-GZ-TH")
        backlog = int(tianhe.find_element(By.CSS_SELECTOR, "td.backlog").text)
        assert backlog >= 1, f"Tianhe's backlog: {tianhe.text}"
        request = driver.find_element(By.ID, f"ext-{extension_ticket}")
        assert "需协调多个部门现场勘查" in request.text, request.text
        check_console(driver, "the supervisor's board")
        shot(driver, "13-supervisor-board")
        fits(driver, "the supervisor's board", ("tablet-landscape", "tablet-landscape-supervisor-board"))

        # Approved with a note.
        request = driver.find_element(By.ID, f"ext-{extension_ticket}")
        request.find_element(By.CSS_SELECTOR, "input[name=note]").send_keys("同意延期，请按期办结")
        request.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
        wait.until(lambda d: extension_ticket in " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, ".flash.ok")))
        # The board drawn right after the decision may still list the request until the SLA
        # service has taken the ledger's event; then it is gone.
        deadline = time.time() + WAIT
        while driver.find_elements(By.ID, f"ext-{extension_ticket}"):
            assert time.time() < deadline, "the request is still pending after the decision"
            time.sleep(1)
            driver.get(f"{CONSOLE_URL}/supervisor")
        check_console(driver, "the board after the decision")
        driver.get(f"{CONSOLE_URL}/dispatch/tickets/{extension_ticket}")
        history = driver.find_element(By.CSS_SELECTOR, "ol.history").text
        assert "延期审批" in history and "同意延期，请按期办结" in history, history

        # The report (通报) of this month, and its CSV and PDF.
        driver.get(f"{CONSOLE_URL}/supervisor/report")
        report = wait.until(ec.presence_of_element_located((By.ID, "report")))
        assert "GZ-TH" in report.text, report.text
        check_console(driver, "the report")
        shot(driver, "14-supervisor-report")
        fits(driver, "the report")
        csv_href = driver.find_element(By.ID, "report-csv").get_attribute("href")
        pdf_href = driver.find_element(By.ID, "report-pdf").get_attribute("href")
        status, headers, csv = fetch(driver, urllib.parse.urlsplit(csv_href)._replace(scheme="", netloc="").geturl())
        assert status == 200 and headers.get_content_type() == "text/csv", (status, headers)
        assert csv.startswith(b"\xef\xbb\xbf"), f"no BOM: {csv[:20]!r}"
        lines = csv[3:].decode("utf-8").splitlines()
        assert lines[0].startswith("部门,办结数,按时办结率"), lines[0]
        assert any("GZ-TH" in line for line in lines[1:]), lines
        assert "attachment" in headers.get("Content-Disposition", ""), headers
        status, headers, pdf = fetch(driver, urllib.parse.urlsplit(pdf_href)._replace(scheme="", netloc="").geturl())
        assert status == 200 and headers.get_content_type() == "application/pdf", (status, headers)
        assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:], pdf[:20]

        # 社情民意: the map (ECharts, loaded by our own script under the CSP) and the rising classes.
        driver.get(f"{CONSOLE_URL}/supervisor/hotspots")
        chart = wait.until(ec.presence_of_element_located((By.ID, "hotspot-map")))
        wait.until(lambda d: chart.get_attribute("data-ready") == "yes" or chart.get_attribute("data-error"))
        assert not chart.get_attribute("data-error"), chart.get_attribute("data-error")
        assert chart.find_elements(By.CSS_SELECTOR, "canvas, svg"), "no canvas in the map"
        size = chart.size
        assert size["width"] > 200 and size["height"] > 200, f"the map is {size}"
        rising = driver.find_elements(By.CSS_SELECTOR, "#rising tbody tr")
        assert rising, "no rising class: " + driver.find_element(By.TAG_NAME, "main").text[:400]
        cells = driver.find_elements(By.CSS_SELECTOR, "#cells tbody tr")
        assert any("天河" in c.text for c in cells), [c.text for c in cells]
        time.sleep(1)  # the chart's animation
        check_console(driver, "the hotspots")
        shot(driver, "15-supervisor-hotspots")
        fits(driver, "the hotspots")
        sign_out(driver, wait)
        print(
            f"console: supervisor1 read the board ({figures['fig-contacts']}), approved {extension_ticket}'s extension, "
            f"downloaded the report (CSV {len(csv)} bytes, PDF {len(pdf)} bytes) and drew the hotspot map ({len(rising)} rising)"
        )
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    try:
        extension_ticket = main()
        knowledge_review()
        agent_desk()
        supervisor(extension_ticket)
    except AssertionError as e:
        traceback.print_exc()
        print(f"console: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
