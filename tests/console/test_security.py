"""The extranet attacked (issue 14 §3): every route of the app, enumerated from `app.routes` so that a route added
later is covered without touching this file, is closed without a session, refuses a forged form (CSRF), and finds
no object of another account (ACC-3); logins resist guessing and fixation; uploads never come back as HTML; every
answer carries the security headers."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from console_helpers import PASSWORD, add_user, client, console_app, csrf_of, log_in
from sqlalchemy import func, select

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
REP2_CATEGORY = "delivered"  # pipelines.report.CATEGORIES: a real category, so only the campaign id is at stake
# Names a spreadsheet would run as formulas (REP-2: the CSV neutralises them), and one that is only a name.
FORMULAS = ("=1+1", "+33 cmd", "-2+3", "@SUM(A1)")
LIST_FILE = "Mobile;Prénom\n" + "".join(f"06123456{index:02d};{name}\n" for index, name in enumerate(FORMULAS + ("Zoé",)))


@dataclass(frozen=True)
class Owned:
    """The objects of one account, by what a route's path parameters name."""

    account: str
    login: str
    user_id: int
    campaign_id: str  # a draft
    campaign_name: str
    list_name: str
    ran_id: str  # a campaign that ran: its report and CSV exist




def routes_of(app):
    """(method, path template, endpoint) of every HTTP route of the app, mounted sub-routes included; the static
    files are public by design."""
    from starlette.routing import Mount, Route

    def walk(routes, prefix=""):
        for route in routes:
            if isinstance(route, Route):
                for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                    yield method, prefix + route.path, route.endpoint
            elif isinstance(route, Mount) and route.path != "/static":
                yield from walk(route.routes, prefix + route.path)

    return list(walk(app.routes))


def fill(path: str, owned: Owned) -> str:
    """`path` with each parameter set to `owned`'s object of that kind (the path's first segment says which)."""
    area = path.strip("/").split("/")[0]

    def value(match):
        name = match.group(1)
        if "category" in name:
            return REP2_CATEGORY
        if area == "lists" or "list" in name:
            return owned.list_name
        if area in ("users", "people") or "user" in name:
            return str(owned.user_id)
        return owned.ran_id if area == "reports" else owned.campaign_id

    return PARAM.sub(value, path)


def own_objects(app, tmp_path, account: str, login: str, campaign_name: str, list_name: str, *,
                ran: bool = True) -> Owned:
    """An admin, a saved list, a draft campaign on it and (`ran`) a campaign that ran, in `account`, made through
    the store (the CLI's library)."""
    from pipelines.store import campaigns
    from pipelines.store.lists import import_list

    user = add_user(app, login, account=account, role="admin")
    folder = tmp_path / account
    folder.mkdir()
    (folder / "clients.csv").write_text(LIST_FILE, encoding="utf-8")
    import_list(app.state.engine, account, list_name, folder / "clients.csv")
    spec = {"name": campaign_name, "type": "notification", "message": "Bonjour ${Prénom}", "lists": ["clients.csv"]}
    draft = campaigns.create(app.state.engine, spec, account, base=folder)
    ran_id = ran_campaign(app, folder, account, f"{account}-ran", {**spec, "name": f"{campaign_name} envoyée"}) \
        if ran else draft.id
    return Owned(account, login, user.id, draft.id, campaign_name, list_name, ran_id)


def ran_campaign(app, folder, account: str, campaign_id: str, spec: dict) -> str:
    """A campaign of `account` planned and loaded into the bucket's lake, then finished in the store: its report
    page and CSV exist (no message is sent: every recipient stays pending)."""
    import yaml

    from pipelines.campaign import WAREHOUSE
    from pipelines.layout import CampaignPaths
    from pipelines.plan import plan_file
    from pipelines.report import campaign_stats
    from pipelines.store import campaigns
    from pipelines.warehouse import load_plan

    bucket, engine = app.state.bucket, app.state.engine
    spec_path = folder / f"{campaign_id}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    campaigns.create(engine, spec, account, campaign_id, base=folder)
    plan = plan_file(spec_path, CampaignPaths.in_bucket(bucket, campaign_id).plan).out_dir
    load_plan(bucket / WAREHOUSE, campaign_id, plan)
    campaigns.schedule(engine, campaign_id, f"manual__{campaign_id}")
    campaigns.transition(engine, campaign_id, "running", "approved")
    campaigns.end_run(engine, campaign_id, "sent", campaign_stats(bucket / WAREHOUSE, campaign_id))
    return campaign_id


def two_accounts(tmp_path, monkeypatch, **settings):
    app, ours = one_account(tmp_path, monkeypatch, ran=True, **settings)
    theirs = own_objects(app, tmp_path, "rival", "rene@rival.example", "Plan secret Rival", "clients-secrets-rival")
    return app, ours, theirs


def one_account(tmp_path, monkeypatch, *, ran: bool = False, **settings):
    app = console_app(tmp_path, monkeypatch, **settings)
    return app, own_objects(app, tmp_path, "acme", "anne@acme.example", "Soldes Acme", "clients-acme", ran=ran)


def logged_in(app, login: str):
    browser = client(app)
    answer = log_in(browser, login)
    assert answer.status_code == 303, answer.text[:500]
    assert browser.get("/").status_code == 200
    return browser


def audit_rows(app) -> int:
    from pipelines.store.schema import audit_log

    with app.state.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(audit_log)).scalar_one()


def unchanged(app, owned: Owned) -> tuple:
    """What a refused request must leave as it was: the campaign, the list, the user."""
    from pipelines.store import campaigns
    from pipelines.store.lists import list_lists
    from pipelines.store.users import get_user

    campaign = campaigns.get(app.state.engine, owned.campaign_id, owned.account)
    saved = [(item.name, item.version) for item in list_lists(app.state.engine, owned.account)]
    user = get_user(app.state.engine, owned.user_id)
    return (campaign.status, campaign.spec, campaign.updated_at, saved, user.active, user.role)


def test_user1_every_route_but_the_public_ones_sends_a_stranger_to_login_and_never_runs(tmp_path, monkeypatch):
    from pipelines.console.web import access_of

    app, ours = one_account(tmp_path, monkeypatch)
    routes = routes_of(app)
    assert {("GET", "/login"), ("POST", "/login"), ("GET", "/")} <= {(m, p) for m, p, _ in routes}
    before, state = audit_rows(app), unchanged(app, ours)
    stranger, opened = client(app), []
    for method, path, endpoint in routes + [("GET", "/no-such-page", None), ("POST", "/no-such-page", None)]:
        if endpoint is not None and access_of(endpoint) == "public":
            continue
        url = fill(path, ours)
        answer = stranger.request(method, url, data={"csrf_token": "x"} if method in UNSAFE else None)
        location = answer.headers.get("location", "")
        if answer.status_code != 303 or not location.startswith("/login") or answer.content:
            opened.append(f"{method} {url}: {answer.status_code} {location}")
        htmx = stranger.request(method, url, headers={"HX-Request": "true"})
        if not htmx.headers.get("hx-redirect", "").startswith("/login") or htmx.content:
            opened.append(f"{method} {url} (htmx): {htmx.status_code} {dict(htmx.headers)}")
    assert not opened, "routes that answer without a session:\n" + "\n".join(opened)
    assert audit_rows(app) == before and unchanged(app, ours) == state  # nothing ran


def test_acc3_every_route_on_an_object_of_another_account_is_a_404_that_reveals_nothing(tmp_path, monkeypatch):
    app, ours, theirs = two_accounts(tmp_path, monkeypatch)
    browser = logged_in(app, ours.login)
    token = _token_of(browser)
    state, leaks, checked = unchanged(app, theirs), [], 0
    for method, path, _ in routes_of(app):
        if not PARAM.search(path):
            continue
        url = fill(path, theirs)
        checked += 1
        answer = browser.request(method, url, data={"csrf_token": token} if method in UNSAFE else None)
        secrets = (theirs.campaign_name, theirs.list_name, theirs.login)
        if answer.status_code != 404 or any(secret in answer.text for secret in secrets):
            leaks.append(f"{method} {url}: {answer.status_code}")
    assert checked, "no route with a path parameter to check"
    assert not leaks, "another account's objects reached:\n" + "\n".join(leaks)
    assert unchanged(app, theirs) == state
    for path in (f"/campaigns/{ours.campaign_id}", f"/lists/{ours.list_name}", f"/users/{ours.user_id}",
                 f"/reports/{ours.ran_id}", f"/reports/{ours.ran_id}/csv/all"):
        assert browser.get(path).status_code == 200, path  # the same routes on the person's own objects answer


def _token_of(browser) -> str:
    """The CSRF token of the logged-in session, from the form every page carries (the logout button)."""
    return csrf_of(browser.get("/"))


def test_user1_every_unsafe_route_refuses_a_missing_or_wrong_csrf_token_with_403(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = logged_in(app, ours.login)
    token = _token_of(browser)
    state, accepted = unchanged(app, ours), []
    unsafe = [(method, path) for method, path, _ in routes_of(app) if method in UNSAFE]
    assert ("POST", "/login") in unsafe and ("POST", "/logout") in unsafe
    for method, path in unsafe:
        url = fill(path, ours)
        for label, kwargs in (("no token", {"data": {"login": ours.login}}),
                              ("wrong token", {"data": {"csrf_token": token[:-4] + "beef"}}),
                              ("wrong header", {"headers": {"X-CSRF-Token": "0" * len(token)}}),
                              ("another site's multipart", {"files": {"file": ("a.csv", b"Mobile\n0612345678\n")}}),
                              ("a JSON body", {"json": {"csrf_token": token}})):
            answer = browser.request(method, url, **kwargs)
            if answer.status_code != 403:
                accepted.append(f"{method} {url} with {label}: {answer.status_code}")
    assert not accepted, "forged requests not refused:\n" + "\n".join(accepted)
    assert unchanged(app, ours) == state and browser.get("/").status_code == 200  # not even logged out


def test_user1_five_wrong_passwords_lock_the_login_even_against_the_right_password(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = client(app)
    for _ in range(5):
        assert log_in(browser, ours.login, "Mauvais-mot-2026!").status_code == 401
    locked = log_in(browser, ours.login, PASSWORD)
    assert locked.status_code == 429 and "bloquée" in locked.text, locked.text[:800]
    assert browser.get("/").headers["location"] == "/login"  # no session came of the right password
    for _ in range(6):  # an unknown login is locked alike: guessing reveals no account
        unknown = log_in(browser, "personne@acme.example", "Mauvais-mot-2026!")
    assert unknown.status_code == 429 and "bloquée" in unknown.text
    from pipelines.store.schema import audit_log

    with app.state.engine.connect() as connection:
        actions = [row.action for row in connection.execute(select(audit_log.c.action).where(
            audit_log.c.actor == ours.login).order_by(audit_log.c.id))]
    assert actions == ["login_failed"] * 5 + ["login_locked"], actions


def _enrol_totp(browser) -> tuple[object, str]:
    """Enrol an authenticator app on /account as a person does: the secret read from the page, a first code."""
    import pyotp

    token = _token_of(browser)
    assert browser.post("/account/second-factor", data={"method": "totp", "csrf_token": token}).status_code == 303
    shown = browser.get("/account/second-factor?method=totp")
    secret = re.search(r'id="secret">([A-Z2-7]+)<', shown.text).group(1)
    totp = pyotp.TOTP(secret)
    first = totp.now()
    confirmed = browser.post("/account/second-factor/confirm",
                             data={"method": "totp", "code": first, "csrf_token": token})
    assert confirmed.status_code == 200 and "secours" in confirmed.text, confirmed.text[:800]
    return totp, first


def _second_factor(browser, login: str, code: str):
    """The password, then `code` at /login/second-factor; the answer to the code."""
    assert log_in(browser, login).headers["location"].startswith("/login/second-factor")
    token = csrf_of(browser.get("/login/second-factor"))
    return browser.post("/login/second-factor", data={"code": code, "csrf_token": token})


def test_user2_a_totp_code_is_used_once_its_time_step_never_again(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = logged_in(app, ours.login)
    totp, first = _enrol_totp(browser)
    browser.post("/logout", data={"csrf_token": _token_of(browser)})
    following = totp.at(time.time() + 30)  # the next time step's code, valid now (±1 step), not used yet
    accepted = _second_factor(browser, ours.login, following)
    assert accepted.status_code == 303 and browser.get("/").status_code == 200
    browser.post("/logout", data={"csrf_token": _token_of(browser)})
    for reused in (following, first):  # the same code again, and the enrolment's (an older step)
        refused = _second_factor(browser, ours.login, reused)
        assert refused.status_code != 303, refused.headers
        assert browser.get("/").headers["location"].startswith("/login/second-factor")  # still half-way
        browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/login/second-factor"))})


def _cookie_key(browser) -> str:
    from pipelines.console.guard import COOKIE

    return browser.cookies.get(COOKIE)


def test_user1_login_gives_a_new_session_key_and_the_one_known_before_is_void(tmp_path, monkeypatch):
    from pipelines.console.guard import COOKIE

    app, ours = one_account(tmp_path, monkeypatch)
    browser = client(app)
    planted_token = csrf_of(browser.get("/login"))
    planted = _cookie_key(browser)  # the key a fixation attacker would have set in the victim's browser  # what an attacker could have set
    assert log_in(browser, ours.login).status_code == 303
    after = _cookie_key(browser)
    assert planted and after and after != planted
    assert csrf_of(browser.get("/")) != planted_token
    attacker = client(app)
    attacker.cookies.set(COOKIE, planted)
    assert attacker.get("/").headers["location"] == "/login"  # the pre-login key opens nothing
    refused = browser.post("/logout", data={"csrf_token": planted_token})
    assert refused.status_code == 403  # the token of the old key is void too
    # with a second factor: a new key at the password step, and another at the end
    totp, _ = _enrol_totp(browser)
    browser.post("/logout", data={"csrf_token": _token_of(browser)})
    browser.get("/login")
    keys = [_cookie_key(browser)]
    assert log_in(browser, ours.login).status_code == 303
    keys.append(_cookie_key(browser))
    token = csrf_of(browser.get("/login/second-factor"))
    code = totp.at(time.time() + 30)  # not the enrolment's code: that time step is used
    assert browser.post("/login/second-factor", data={"code": code, "csrf_token": token}).status_code == 303
    keys.append(_cookie_key(browser))
    assert len(set(keys)) == 3, keys
    for old in keys[:2]:
        stale = client(app)
        stale.cookies.set(COOKIE, old)
        assert stale.get("/").headers["location"] == "/login"



EVIL = "<script>alert('smsflow')</script>"


def test_list1_an_uploaded_file_is_never_served_back_its_content_only_escaped(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = logged_in(app, ours.login)
    token = _token_of(browser)
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    page_ = browser.post("/lists/preview", headers=htmx,
                         files={"file": ('<img src=x onerror="alert(1)">.html', f"<html>{EVIL}</html>".encode())})
    assert "pas une liste" in page_.text and "<img src=x" not in page_.text and EVIL not in page_.text
    assert "&lt;img src=x" in page_.text  # the name shown as text
    sheet = f"Mobile;Nom\n0612345678;{EVIL}\n".encode()
    shown = browser.post("/lists/preview", headers=htmx, files={"file": ("evil.html.csv", sheet)})
    assert shown.status_code == 200 and EVIL not in shown.text
    assert "&lt;script&gt;alert(&#39;smsflow&#39;)&lt;/script&gt;" in shown.text, shown.text[:2000]
    ref = re.search(r'name="upload" value="([^"]+)"', shown.text).group(1)
    (stored,) = (app.state.bucket / "uploads").rglob("*.csv")
    assert stored.read_bytes() == sheet and not stored.is_relative_to(app.state.bucket.parent / "static")
    imported = browser.post("/lists/import", data={"name": "piegee", "upload": ref, "csrf_token": token})
    assert imported.status_code == 303
    served = [f"/uploads/{ref}", f"/static/../bucket/uploads/{ref}", f"/static/{stored.name}", "/lists/piegee",
              "/lists/piegee?q=0612345678"]
    for value in (stored.name, ref.replace("/", "%2F"), "piegee"):
        served += [PARAM.sub(value, path) for method, path, _ in routes_of(app) if method == "GET" and
                   PARAM.search(path)]
    for url in served:
        answer = browser.get(url)
        assert EVIL not in answer.text and sheet not in answer.content, url
        assert answer.headers.get("x-content-type-options") == "nosniff", url


def test_rep2_the_csv_download_neutralises_formulas_and_is_an_attachment(tmp_path, monkeypatch):
    import csv
    import io

    app, ours = one_account(tmp_path, monkeypatch, ran=True)
    browser = logged_in(app, ours.login)
    answer = browser.get(f"/reports/{ours.ran_id}/csv/all")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment")
    assert answer.headers["x-content-type-options"] == "nosniff"
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    assert sorted(row["Prénom"] for row in rows) == sorted([f"'{name}" for name in FORMULAS] + ["Zoé"])
    pending = browser.get(f"/reports/{ours.ran_id}/csv/pending")  # a category alone: the same writer
    assert pending.status_code == 200 and "'=1+1" in pending.content.decode("utf-8-sig")


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _headers_problems(answer) -> list[str]:
    """What is missing of the security headers on one answer."""
    problems = []
    policy = _directives(answer.headers.get("content-security-policy", ""))
    scripts = policy.get("script-src", policy.get("default-src"))
    if not scripts or {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(scripts) or \
            "'unsafe-inline'" in policy.get("style-src", []):
        problems.append(f"CSP scripts/styles {policy}")
    if policy.get("frame-ancestors") != ["'none'"]:
        problems.append("frame-ancestors")
    if answer.headers.get("x-content-type-options") != "nosniff":
        problems.append("nosniff")
    return problems


INLINE = re.compile(r"<[a-zA-Z][^>]*\s(?:on[a-z]+|style)\s*=|<script(?![^>]*\ssrc=)[^>]*>|<style|javascript:", re.I)


def test_user1_every_answer_has_the_security_headers_and_no_page_needs_inline_script_or_style(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch, ran=True)
    browser, stranger = logged_in(app, ours.login), client(app)
    problems, pages = [], 0
    answers = [(f"stranger GET {path}", stranger.get(path)) for path in ("/login", "/", "/password/forgot")]
    answers += [("a CSRF refusal", stranger.post("/login", data={})), ("static", browser.get("/static/console.css")),
                ("a missing page", browser.get("/no-such-page"))]
    for method, path, _ in routes_of(app):
        if method == "GET":
            answers.append((f"GET {fill(path, ours)}", browser.get(fill(path, ours))))
    for label, answer in answers:
        problems += [f"{label}: {problem}" for problem in _headers_problems(answer)]
        if answer.headers.get("content-type", "").startswith("text/html"):
            pages += 1
            problems += [f"{label}: inline {found!r}" for found in INLINE.findall(answer.text)]
    assert pages > 10 and not problems, "\n".join(problems)


def _set_cookies(answer) -> dict[str, str]:
    return {value.split("=", 1)[0]: value.lower() for value in answer.headers.get_list("set-cookie")}


def test_user1_cookies_are_httponly_samesite_lax_and_secure_behind_https(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from pipelines.console.guard import COOKIE

    app, ours = one_account(tmp_path, monkeypatch, https=True)
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    first = _set_cookies(browser.get("/login"))[COOKIE]
    logged = _set_cookies(log_in(browser, ours.login))[COOKIE]
    totp, _ = _enrol_totp(browser)
    browser.post("/logout", data={"csrf_token": _token_of(browser)})
    log_in(browser, ours.login)
    trusted = browser.post("/login/second-factor", data={
        "code": totp.at(time.time() + 30), "trust": "1", "csrf_token": csrf_of(browser.get("/login/second-factor"))})
    cookies = _set_cookies(trusted)
    assert set(cookies) >= {COOKIE, "smsflow_device"}, cookies
    for value in (first, logged, *cookies.values()):
        assert "httponly" in value and "samesite=lax" in value and "secure" in value and "path=/" in value, value
    plain_app = console_app(tmp_path, monkeypatch)  # the same store, served over plain HTTP (development)
    plain_cookie = _set_cookies(log_in(client(plain_app), ours.login))[COOKIE]
    assert "httponly" in plain_cookie and "samesite=lax" in plain_cookie and "secure" not in plain_cookie
