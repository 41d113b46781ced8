"""The extranet tested as a person uses it (issue 14 §3), in real headless Chromium against the stack `make airflow`
runs: log in, enrol an authenticator app from the QR page's secret, log in again with its code, create a campaign
from an uploaded file while the live counter follows the typing, send it (test message, then the SEND-4 summary
and « Confirmer l'envoi », which answers the run's approval in Airflow) and read its report."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from helpers import ROOT, smsflow, write_list

PASSWORD = "Motdepasse-2026!"  # USER-1
LOGIN = "camille@demo.example"
TEST_NUMBER = "0611223344"
STEP_TIMEOUT = 300_000  # ms: an Airflow run's step on a loaded 2-core machine


def log_in(page, console: str, password: str = PASSWORD) -> None:
    page.goto(f"{console}/login")
    page.fill("#login", LOGIN)
    page.fill("#password", password)
    page.click("button:has-text('Se connecter')")


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(control => control.type !== 'hidden' && !control.labels.length && !control.getAttribute('aria-label'))
    .map(control => control.name || control.id)"""


def console_session(console: str, login: str, password: str) -> bool:
    """Whether `login` and `password` open a session on the console (a plain HTTP client, as a script would)."""
    import httpx

    with httpx.Client(base_url=console, follow_redirects=False) as http:
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text).group(1)
        answer = http.post("/login", data={"login": login, "password": password, "csrf_token": token})
        return answer.status_code == 303 and http.get("/").status_code == 200


def counted(page) -> tuple[int, int]:
    """(characters, parts) as the live counter shows them."""
    counter = page.locator("#counter")
    return int(counter.locator("[data-length]").inner_text()), int(counter.locator("[data-parts]").inner_text())


def wait_for_counter(page, length: int) -> tuple[int, int]:
    page.wait_for_function("n => document.querySelector('#counter [data-length]')?.textContent.trim() === String(n)",
                           arg=length)
    return counted(page)


def wait_for_step(page, *steps: str) -> str:
    """Wait until the run panel (polled by htmx every 2 s) reaches one of `steps` (its data-step) or fails."""
    wanted = list(steps) + ["failed", "cancelled"]
    page.wait_for_function("steps => steps.includes(document.querySelector('#run-panel')?.dataset.step)",
                           arg=wanted, timeout=STEP_TIMEOUT)
    step = page.locator("#run-panel").get_attribute("data-step")
    assert step in steps, page.locator("#run-panel").inner_text()
    return step


@pytest.mark.xdist_group("airflow")  # one Airflow at a time on a 2-core machine
def test_user2_send3_send4_rep1_a_person_logs_in_with_totp_creates_sends_and_reads_a_campaign(
        airflow_stack, page, screenshot, tmp_path):
    import pyotp

    stack, timings, began = airflow_stack, {}, time.monotonic()
    said = stack.printed.read_text(encoding="utf-8")
    printed = re.search(r"Log in as (\S+@\S+), password (\S+) \(new at each start\)", said)
    assert printed and console_session(stack.console, *printed.groups()), said  # the login make airflow prints
    added = smsflow("users", "add", LOGIN, "--account", "demo", "--role", "admin", "--first-name", "Camille",
                    "--last-name", "Martin", "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr

    # USER-1: the password opens a full session (no second factor yet), the form used with the keyboard alone
    page.goto(f"{stack.console}/login")
    page.keyboard.type(LOGIN)  # the identifier field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.console}/")
    assert "Tableau de bord" in page.content()
    screenshot(page, "dashboard")

    # USER-2: enrol an authenticator app from the QR code's page, confirmed by a first code
    page.goto(f"{stack.console}/account/second-factor")
    page.check("#method-totp")
    if page.locator("#current").count():  # a sensitive change asks for the password again
        page.fill("#current", PASSWORD)
    page.click("button:has-text('Continuer')")
    assert page.locator(".qr svg").count() == 1
    screenshot(page, "second_factor")
    totp = pyotp.TOTP(page.inner_text("#secret").strip())
    page.fill("#code", totp.now())
    page.click("button:has-text('Confirmer')")
    page.wait_for_selector("text=secours")
    page.click("button:has-text('Déconnexion')")
    page.wait_for_url(re.compile(r".*/login$"))

    # ... and the next login asks for its code (the next time step's: the enrolment's is used, USER-2)
    log_in(page, stack.console)
    page.wait_for_url(re.compile(r".*/login/second-factor"))
    page.fill("#code", totp.at(time.time() + 30))
    page.click("button:has-text('Valider')")
    page.wait_for_url(f"{stack.console}/")
    timings["login and TOTP"] = time.monotonic() - began

    # CAMP-3: a campaign from an uploaded file (its preview first), the counter following the message (ENC-1)
    contacts = write_list(tmp_path / "clients-navigateur.csv",
                          "Mobile;Prénom\n" + "".join(f"06123400{index:02d};Client {index}\n" for index in range(12)))
    page.goto(f"{stack.console}/campaigns/new")
    page.fill("#f-name", "Soldes du navigateur")
    page.select_option("#f-type", "notification")
    page.set_input_files("#f-file", str(contacts))
    page.wait_for_selector("#upload-slot table")
    assert "point-virgule" in page.inner_text("#upload-slot") and "Prénom" in page.inner_text("#upload-slot")
    message = "Bonjour, nos soldes commencent demain matin en boutique et sur le site : -20 % sur tout. " * 2
    message = message[:160]
    page.fill("#f-message", message)
    assert wait_for_counter(page, 160) == (160, 1)
    page.locator("#f-message").press_sequentially("!", delay=50)  # the 161st character: two parts
    assert wait_for_counter(page, 161) == (161, 2)
    page.fill("#f-message", message[:150] + " A demain")  # back to one part, as the person trims it
    assert wait_for_counter(page, 159) == (159, 1)
    page.fill("#f-test_numbers", TEST_NUMBER)
    assert page.evaluate(UNLABELLED) == []  # every field of the form has its label
    screenshot(page, "campaign_form")
    page.click("button:has-text('Enregistrer le brouillon')")
    page.wait_for_url(re.compile(r".*/campaigns/[a-z0-9-]+(\?.*)?$"))
    campaign_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    timings["campaign created"] = time.monotonic() - began

    # SEND-3, SEND-4: send, the test message and the summary, then « Confirmer l'envoi » answers Airflow's approval
    page.click("#run-panel button:has-text('Envoyer')")
    page.wait_for_function(  # the approval's request there to answer (or the run ended)
        """() => { const panel = document.querySelector('#run-panel');
                   return ['failed', 'cancelled'].includes(panel?.dataset.step)
                       || [...(panel?.querySelectorAll('button') || [])].some(b => b.textContent.includes('Confirmer')); }""",
        timeout=STEP_TIMEOUT)
    confirm = page.locator("#run-panel button:has-text(\"Confirmer l'envoi\")")
    assert confirm.count() == 1, page.inner_text("#run-panel")
    panel = page.inner_text("#run-panel")
    assert "Résumé de la campagne" in panel and "12" in panel and TEST_NUMBER[1:] in panel.replace(" ", ""), panel
    screenshot(page, "approval")
    page.screenshot(path=str(screenshot.folder / "console.png"))  # the README's picture (docs/console.png)
    timings["approval asked"] = time.monotonic() - began
    confirm.click()
    wait_for_step(page, "finished")
    timings["campaign sent"] = time.monotonic() - began

    # REP-1: the report, its figures and charts
    page.goto(f"{stack.console}/reports/{campaign_id}")
    report = page.inner_text("main")
    assert "Soldes du navigateur" in report and page.locator("main svg").count() >= 2, report
    assert re.search(r"12\s+destinataires", report) and re.search(r"\d+\s+délivrés", report), report
    screenshot(page, "report")
    with page.expect_download() as download:  # REP-2: the CSV, as an attachment
        page.click("a:has-text('Rapport complet')")
    rows = download.value.path().read_bytes().decode("utf-8-sig").splitlines()
    assert rows[0].startswith("REF_LIST;ID_LINE;INT_MOBILE;STATUS_CODE") and len(rows) == 13, rows[:3]
    assert not [text for text in page.complaints if "Content Security Policy" in text or "Refused" in text], \
        page.complaints
    print(f"\nstack up in {stack.started_in:.0f} s; browser flow: "
          + ", ".join(f"{step} at {seconds:.0f} s" for step, seconds in timings.items()))


def test_house_the_readme_screenshot_is_committed():
    """docs/console.png: the campaign form as the browser test saw it (copied from tests/browser/screenshots)."""
    image = ROOT / "docs" / "console.png"
    assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
