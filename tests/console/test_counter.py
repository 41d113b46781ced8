"""The message editor's live counter (ENC-1…6, MSG-2, MSG-3): its figures are `pipelines.encoding`'s and the
plan's own worst case (the longest value of each field), never a second count."""

from __future__ import annotations

import html
import io
import json
import re

import polars as pl
import yaml
from console_helpers import add_user, client, csrf_of, log_in, logged_in

from pipelines import encoding as enc
from pipelines.store import campaigns as store

CONTACTS = "Prénom;Mobile;Ville\nJérôme;0612345678;Orléans\nMaximilienne;0698765432;Besançon\nAl;0611223344;Sète\n"


def _browser(tmp_path, monkeypatch, login="ana@example.fr", account="default"):
    return logged_in(tmp_path, monkeypatch, login, account)


def _upload(browser, content: str = CONTACTS) -> str:
    token = csrf_of(browser.get("/campaigns/new"))
    answer = browser.post("/lists/preview", data={"csrf_token": token}, headers={"HX-Request": "true"},
                          files={"file": ("clients.csv", io.BytesIO(content.encode()), "text/csv")})
    return re.search(r'name="upload" value="([^"]+)"', answer.text).group(1)


def _count(browser, message: str, **fields) -> tuple[dict, str]:
    """The counter's fragment for `message` and the form's `fields`: its figures and its HTML."""
    token = csrf_of(browser.get("/campaigns/new"))
    data = {"message": message, "type": "marketing", "replace_non_gsm7": "on", "max_parts": "6", **fields}
    answer = browser.post("/campaigns/counter", data=data, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert "<html" not in text  # a partial
    figures = {"length": int(re.search(r"<strong data-length>(\d+)</strong>", text).group(1)),
               "parts": int(re.search(r"<strong data-parts>(\d+)</strong>", text).group(1)),
               "encoding": re.search(r"<span data-encoding>([^<]+)</span>", text).group(1)}
    return figures, text


def _measured(text: str) -> dict:
    row = enc.measure(pl.Series([text])).row(0, named=True)
    return {"length": row["LENGTH"], "parts": row["PARTS"], "encoding": {"GSM7": "GSM7", "UCS2": "UCS-2"}[
        row["ENCODING"]]}


def test_enc1_gsm7_text_counts_as_pipelines_encoding(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    for text in ("Soldes -20 % ce week-end ! STOP 36184", "Prix: 10€ [promo] " * 9 + "STOP 36184"):
        figures, fragment = _count(browser, text)
        assert figures == _measured(text)
        assert 'class="non-gsm"' not in fragment and "STOP 36184" not in re.findall(r'role="alert">([^<]*)', fragment)
    figures, _ = _count(browser, "Prix: 10€ [promo] " * 9 + "STOP 36184")
    assert figures["parts"] == 2 and figures["length"] == 9 * 21 + 10  # € [ ] cost two septets (ENC-1)


def test_enc2_ucs2_text_counts_as_pipelines_encoding(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    text = "Votre colis ✓ arrive demain 🚚 " * 3 + "STOP 36184"
    figures, fragment = _count(browser, text, ucs2="on")
    assert figures == _measured(text) and figures["encoding"] == "UCS-2" and figures["parts"] == 2
    assert "statut 6" not in fragment
    figures, fragment = _count(browser, text)  # without the option: status 6 said in red
    assert figures["encoding"] == "UCS-2" and "statut 6, ENC-2" in fragment


def test_enc4_non_gsm_characters_highlighted_with_their_replacement(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    text = "Leçon “offerte” ✓ STOP 36184"
    figures, fragment = _count(browser, text)
    assert html.unescape('<mark class="non-gsm" title="remplacé par « c »">ç</mark>') in html.unescape(fragment)
    assert '<mark class="non-gsm">✓</mark> → aucun équivalent GSM7' in fragment
    assert '<mark class="non-gsm">“</mark> → « &#34; »' in fragment
    replaced = enc.replace_non_gsm7(pl.Series([text]))[0]  # ENC-4 as the plan does it: ✓ stays, so UCS-2
    assert figures == _measured(replaced) and figures["encoding"] == "UCS-2"
    figures, _ = _count(browser, "Leçon “offerte” STOP 36184")
    assert figures == _measured("Lecon \"offerte\" STOP 36184") and figures["encoding"] == "GSM7"


def test_enc6_worst_case_uses_the_longest_value_of_each_field(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    reference = _upload(browser)
    figures, fragment = _count(browser, "Bonjour ${Prénom} de ${Ville} ! STOP 36184", upload=reference)
    worst = "Bonjour Maximilienne de Besancon ! STOP 36184"  # the longest of each column; ç replaced (ENC-4)
    assert figures == _measured(worst)
    assert html.escape(f"« {worst} »", quote=True) in fragment or f"« {worst} »" in html.unescape(fragment)
    for name in ("Prénom", "Mobile", "Ville"):  # the fields offered: the chosen lists' columns (MSG-3)
        assert f"<code>${{{name}}}</code>" in fragment
    figures, _ = _count(browser, "Bonjour ${Prénom} STOP 36184", upload=reference,
                        defaults="Prénom = chère cliente fidèle")  # a default longer than every value counts
    assert figures == _measured("Bonjour chere cliente fidele STOP 36184")


def test_enc6_worst_case_of_a_saved_list_and_typed_numbers(tmp_path, monkeypatch):
    from pipelines.store.lists import import_list

    app, browser = _browser(tmp_path, monkeypatch)
    contacts = tmp_path / "vip.csv"
    contacts.write_text(CONTACTS, encoding="utf-8")
    import_list(app.state.engine, "default", "vip", contacts)
    figures, _ = _count(browser, "Salut ${Prénom} STOP 36184", saved_lists="vip")
    assert figures == _measured("Salut Maximilienne STOP 36184")
    figures, _ = _count(browser, "Salut ${Prénom} STOP 36184", saved_lists="vip",
                        recipients="0611223344; Prénom=Anne-Charlotte-Marie")
    assert figures == _measured("Salut Anne-Charlotte-Marie STOP 36184")


def test_enc6_counter_equals_the_plans_worst_case(tmp_path, monkeypatch):
    """A campaign made from the form, then planned: its summary's worst case is the counter's figures."""
    from pipelines.plan.stage import plan_file

    app, browser = _browser(tmp_path, monkeypatch)
    reference = _upload(browser)
    message = "Bonjour ${Prénom}, vos soldes à ${Ville} : https://shop.example.fr/soldes?ville=${Ville} STOP 36184"
    fields = {"upload": reference, "track_links": "on"}
    figures, fragment = _count(browser, message, **fields)
    assert "1 lien" in fragment
    token = csrf_of(browser.get("/campaigns/new"))
    created = browser.post("/campaigns/new", data={
        "csrf_token": token, "name": "Soldes", "type": "notification", "message": message, "approval": "manual",
        "replace_non_gsm7": "on", "max_parts": "6", "test_row": "1", "link_lifetime_days": "90",
        "max_invalid_share": "0.2", "holdout": "0", **fields})
    assert created.status_code == 303, created.text
    campaign = store.list_campaigns(app.state.engine, "default")[0]
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(campaign.spec, encoding="utf-8")
    assert yaml.safe_load(campaign.spec)["tracking"] == {}
    plan_file(spec_file, tmp_path / "plan")
    worst = json.loads((tmp_path / "plan" / "summary.json").read_text())["worst_case"]
    assert figures == {"length": worst["length"], "parts": worst["parts"],
                       "encoding": {"GSM7": "GSM7", "UCS2": "UCS-2"}[worst["encoding"]]}
    assert f"« {worst['message']} »" in html.unescape(fragment)  # the link counted as its 19-character short link


def test_msg2_stop_mention_required_for_marketing_only(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    _, fragment = _count(browser, "Soldes ce week-end")
    assert "La mention « STOP 36184 » est obligatoire" in html.unescape(fragment)
    _, fragment = _count(browser, "Votre colis arrive", type="notification")
    assert "STOP 36184" not in html.unescape(fragment)


def test_enc5_more_parts_than_allowed_shown_in_red(tmp_path, monkeypatch):
    from pipelines.store import set_account

    app, browser = _browser(tmp_path, monkeypatch)
    text = "a" * 200 + " STOP 36184"
    figures, fragment = _count(browser, text, max_parts="1")
    assert figures["parts"] == 2
    assert 'class="figures error"' in fragment and "Trop long : 2 SMS pour 1 au plus" in fragment
    set_account(app.state.engine, "default", max_parts=1)  # the account's maximum wins over the form's (ACC-2)
    _, fragment = _count(browser, text, max_parts="6")
    assert "Trop long : 2 SMS pour 1 au plus" in fragment
    _, fragment = _count(browser, "a" * 100 + " STOP 36184", max_parts="6")
    assert "Trop long" not in fragment


def test_msg3_unknown_field_named_with_the_nearest_column(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    reference = _upload(browser)
    _, fragment = _count(browser, "Bonjour ${Prenom} STOP 36184", upload=reference)
    assert "unknown field ${Prenom} — did you mean ${Prénom}?" in html.unescape(fragment)
    _, fragment = _count(browser, "Bonjour ${Prénom} STOP 36184")  # no list yet: a note, no error
    assert "Choisissez une liste" in fragment and 'role="alert"' not in fragment


def test_acc3_counter_never_reads_another_accounts_upload(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    reference = _upload(browser)
    add_user(app, "bob@example.fr", account="acme")
    other = client(app)
    log_in(other, "bob@example.fr")
    _, fragment = _count(other, "Bonjour ${Prénom} STOP 36184", upload=reference)
    assert "Maximilienne" not in fragment and "<code>${Ville}</code>" not in fragment


def test_counter_is_wired_to_the_message_editor(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    form = browser.get("/campaigns/new").text
    assert 'hx-post="/campaigns/counter"' in form and 'hx-include="#campaign-form"' in form
    assert ">\nSTOP 36184</textarea>" in form  # MSG-2: the mention pre-filled


def test_url1_tracking_fields_open_once_the_message_holds_a_link(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    form = browser.get("/campaigns/new").text
    assert '<details id="tracking">' in form and 'name="tracking_open" value="0"' in form  # closed: no link yet
    _, fragment = _count(browser, "Soldes sur https://shop.example.fr STOP 36184", tracking_open="0",
                         preview_title="Nos soldes")
    assert '<fieldset id="tracking-group" hx-swap-oob="true">' in fragment  # swapped in by htmx, open
    assert '<details id="tracking" open>' in fragment and 'value="Nos soldes"' in fragment
    _, fragment = _count(browser, "Soldes sur https://shop.example.fr STOP 36184", tracking_open="1")
    assert "hx-swap-oob" not in fragment  # already open: the fields being typed in are left alone
    _, fragment = _count(browser, "Soldes ce week-end STOP 36184", tracking_open="0")
    assert "hx-swap-oob" not in fragment


def test_msg5_jinja_template_counted_on_the_longest_values(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    reference = _upload(browser)
    figures, fragment = _count(browser, "Bonjour {{ Prénom | upper }} STOP 36184", upload=reference)
    assert figures == _measured("Bonjour MAXIMILIENNE STOP 36184")
    assert 'role="alert"' not in fragment


def test_enc6_the_counter_imports_no_campaign_page_module_no_cycle():
    import ast
    from pathlib import Path

    import pipelines.console.counter as counter

    tree = ast.parse(Path(counter.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "pipelines.console.campaigns" not in imported
