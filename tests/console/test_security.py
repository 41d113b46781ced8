"""The extranet attacked (issue 14 §3): every route of the app, enumerated from `app.routes` so that a route added
later is covered without touching this file, is closed without a session, refuses a forged form (CSRF), and finds
no object of another account (ACC-3); uploads never come back as HTML; CSV downloads neutralise formulas; every
answer carries the security headers. Logins (lockout, TOTP reuse, fixation, cookies): test_security_logins.py."""

from __future__ import annotations

import re

import pytest
import yaml
from console_helpers import client, log_in
from security_helpers import (
    FORMULAS, PARAM, RIVAL_LIST, UNSAFE, audit_rows, fill, logged_in, one_account, routes_of, token_of, two_accounts,
    unchanged)

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
    token = token_of(browser)
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


def test_acc3_form_fields_naming_another_accounts_list_upload_or_a_server_file_find_nothing(tmp_path, monkeypatch):
    import io

    from starlette.datastructures import UploadFile

    from pipelines.console.uploads import save_upload, upload_ref
    from pipelines.store import campaigns
    from pipelines.store.lists import SavedListError, list_lists, materialise

    app, ours, theirs = two_accounts(tmp_path, monkeypatch)
    bucket = app.state.bucket
    their_upload = save_upload(bucket, "rival", UploadFile(io.BytesIO(RIVAL_LIST.encode()), filename="secret.csv"))
    their_ref = upload_ref(bucket, "rival", their_upload)
    browser = logged_in(app, ours.login)
    token = token_of(browser)
    foreign = {"saved_lists": theirs.list_name, "upload": their_ref, "lists": [str(their_upload), "/etc/passwd"]}
    own = browser.post("/campaigns/counter", data={"message": "Bonjour", "saved_lists": ours.list_name,
                                                   "csrf_token": token})
    assert own.status_code == 200 and "Prénom" in own.text  # the person's own list gives its fields
    counted = browser.post("/campaigns/counter", data={"message": "Bonjour", **foreign, "csrf_token": token})
    assert "CodeSecretRival" not in counted.text and "rival-0001" not in counted.text
    before = {item.id for item in campaigns.list_campaigns(app.state.engine, "acme")}
    browser.post("/campaigns/new", data={"name": "Emprunt", "type": "notification", "message": "Bonjour",
                                         "test_numbers": "", **foreign, "csrf_token": token})
    for campaign in campaigns.list_campaigns(app.state.engine, "acme"):
        if campaign.id in before:
            continue
        lists = yaml.safe_load(campaign.spec).get("lists") or []
        files = [item for item in lists if isinstance(item, str)]
        assert not [path for path in files if "rival" in path or path == "/etc/passwd"], campaign.spec
        for item in lists:  # a saved list's name is looked up in the campaign's own account only: absent
            if isinstance(item, dict) and "saved" in item:
                with pytest.raises(SavedListError):
                    materialise(app.state.engine, "acme", item["saved"], None, tmp_path / "materialised")
    imported = browser.post("/lists/import", data={"name": "emprunt", "upload": their_ref, "csrf_token": token})
    assert imported.status_code == 400
    assert [item.name for item in list_lists(app.state.engine, "acme")] == [ours.list_name]



def test_user1_every_unsafe_route_refuses_a_missing_or_wrong_csrf_token_with_403(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = logged_in(app, ours.login)
    token = token_of(browser)
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



EVIL = "<script>alert('smsflow')</script>"


def test_list1_an_uploaded_file_is_never_served_back_its_content_only_escaped(tmp_path, monkeypatch):
    app, ours = one_account(tmp_path, monkeypatch)
    browser = logged_in(app, ours.login)
    token = token_of(browser)
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


ODD_VALUES = ("..%2F..%2Fetc%2Fpasswd", "%00", "x" * 3000, "%27%3B%20DROP%20TABLE%20users%3B--", "%C3%A9t%C3%A9%20%F0%9F%98%80",
              "-1", "9223372036854775807", "99999999999999999999", "%3Cscript%3E")  # store integers and beyond


def test_user1_no_route_fails_on_odd_path_values_or_empty_forms(tmp_path, monkeypatch):
    """Whatever a person (or a scanner) puts in a path or leaves out of a form, a route answers a page, never a 500
    or a traceback."""
    from starlette.testclient import TestClient

    app, ours = one_account(tmp_path, monkeypatch)
    browser = TestClient(app, follow_redirects=False, raise_server_exceptions=False)  # a 500 as the browser sees it
    assert log_in(browser, ours.login).status_code == 303
    token = token_of(browser)
    failures = []
    for method, path, _ in routes_of(app):
        if "logout" in path:  # the session must outlive the tour
            continue
        urls = [PARAM.sub(value, path) for value in ODD_VALUES] if PARAM.search(path) else [path]
        for url in urls:
            answer = browser.request(method, url, data={"csrf_token": token} if method in UNSAFE else None)
            if answer.status_code >= 500 or "Traceback" in answer.text:
                failures.append(f"{method} {url[:80]}: {answer.status_code}")
    assert not failures, "\n".join(failures)
    assert browser.get("/").status_code == 200


def test_acc3_a_user_id_beyond_64_bits_is_as_absent_as_any_other(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    app, ours = one_account(tmp_path, monkeypatch)
    browser = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    assert log_in(browser, ours.login).status_code == 303
    assert browser.get("/users/99999999999999999999").status_code == 404


def test_user1_static_files_serve_nothing_outside_their_folder(tmp_path, monkeypatch):
    """The one public folder (/static: CSS, htmx) gives no way up to the code, the store or the bucket."""
    app, _ = one_account(tmp_path, monkeypatch)
    stranger = client(app)
    assert stranger.get("/static/console.css").status_code == 200
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2fsettings.py",
                 "/static//etc/passwd", "/static/..%2f..%2f..%2fpyproject.toml"):
        answer = stranger.get(path)
        assert answer.status_code in (303, 404) and "create_app" not in answer.text and "root:" not in answer.text, \
            (path, answer.status_code)
