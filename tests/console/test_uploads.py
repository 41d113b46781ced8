"""Uploads of list files in the extranet (LIST-1, LIST-2): stored privately, previewed as the plan reads them,
never served back."""

from __future__ import annotations

import io

from console_helpers import csrf_of, logged_in

FRENCH_1252 = "Prénom;Mobile;Téléphone;Ville\r\nJérôme;06 12 34 56 78;01 23 45 67 89;Orléans\r\n" \
              "Zoé;+33 6 98 76 54 32;;Besançon\r\nAndré;0611223344;;Sète\r\n"


def _browser(tmp_path, monkeypatch, login="ana@example.fr", account="default", role="admin"):
    return logged_in(tmp_path, monkeypatch, login, account, role)


def _preview(browser, name: str, content: bytes, htmx: bool = True):
    token = csrf_of(browser.get("/lists"))
    headers = {"HX-Request": "true"} if htmx else {}
    return browser.post("/lists/preview", data={"csrf_token": token}, headers=headers,
                        files={"file": (name, io.BytesIO(content), "text/csv")})


def test_list1_preview_of_a_windows_1252_semicolon_list(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    answer = _preview(browser, "contacts clients.csv", FRENCH_1252.encode("cp1252"))
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert "Windows-1252" in text and "point-virgule" in text
    assert "<mark>Mobile</mark>" in text  # LIST-2: the mobile column, highlighted
    for value in ("Prénom", "Téléphone", "Jérôme", "Orléans", "Zoé", "Besançon", "André", "06 12 34 56 78"):
        assert value in text
    assert "<dd>3</dd>" in text  # three data rows
    assert 'name="upload"' in text and "<html" not in text  # a partial for htmx, naming the saved upload
    stored = list((app.state.bucket / "uploads" / "default").rglob("*.csv"))
    assert len(stored) == 1 and stored[0].name == "contacts_clients.csv"
    assert stored[0].read_bytes() == FRENCH_1252.encode("cp1252")  # stored as sent


def test_list1_preview_without_htmx_is_a_page_to_save_the_list(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    answer = _preview(browser, "contacts.txt", "GSM,Nom\n0612345678,Durand\n".encode(), htmx=False)
    assert answer.status_code == 200
    assert "<html" in answer.text and "virgule" in answer.text and "UTF-8" in answer.text
    assert 'action="/lists/import"' in answer.text and "Enregistrer" in answer.text


def test_list2_preview_without_mobile_column_shows_the_plans_error(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    answer = _preview(browser, "contacts.csv", "Prénom;Téléphone\nJean;0612345678\n".encode())
    assert answer.status_code == 200
    assert 'role="alert"' in answer.text and "no mobile number column" in answer.text
    assert "ligne 1" in answer.text and "LIST-2" in answer.text
    assert str(app.state.bucket) not in answer.text  # the file's name, never the server's path


def test_list1_preview_of_an_unclosed_quote_names_line_and_column(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    content = 'Mobile;Prénom\n0612345678;Luc\n0612345679;"Jean\n0612345670;Marie\n'.encode()
    answer = _preview(browser, "contacts.csv", content)
    assert "never closes" in answer.text and "ligne 3" in answer.text
    assert "colonne « Prénom »" in answer.text and "LIST-1" in answer.text


def test_list1_upload_of_another_extension_is_refused(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    answer = _preview(browser, "x.html", b"<script>alert(1)</script>\n")
    assert "seuls les fichiers .csv et .txt" in answer.text and 'role="alert"' in answer.text
    assert not (app.state.bucket / "uploads").exists() or not any((app.state.bucket / "uploads").rglob("*.*"))
    plain = _preview(browser, "x.html", b"Mobile\n0612345678\n", htmx=False)
    assert plain.status_code == 400


def test_list1_uploaded_html_is_shown_escaped_and_never_served(tmp_path, monkeypatch):
    app, browser = _browser(tmp_path, monkeypatch)
    content = b'Mobile;Nom\n0612345678;<script>alert("x")</script><img src=x onerror=alert(1)>\n'
    answer = _preview(browser, "page.html.csv", content)
    assert "<script>alert" not in answer.text and "<img" not in answer.text
    assert "&lt;script&gt;alert(" in answer.text and "&lt;img src=x" in answer.text
    stored = next((app.state.bucket / "uploads").rglob("*.csv"))
    assert stored.name == "page.html.csv"
    relative = stored.relative_to(app.state.bucket).as_posix()
    for url in (f"/{relative}", f"/static/../{relative}", f"/bucket/{relative}", f"/static/{stored.name}"):
        served = browser.get(url)
        assert served.status_code in (404, 307, 303) and b"<script>" not in served.content


def test_list1_empty_upload_and_missing_file_are_refused(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    assert "est vide" in _preview(browser, "vide.csv", b"").text
    token = csrf_of(browser.get("/lists"))
    answer = browser.post("/lists/preview", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert "Choisissez un fichier" in answer.text


def test_list1_preview_needs_the_csrf_token(tmp_path, monkeypatch):
    _, browser = _browser(tmp_path, monkeypatch)
    answer = browser.post("/lists/preview", files={"file": ("a.csv", io.BytesIO(b"Mobile\n0612345678\n"), "text/csv")})
    assert answer.status_code == 403


def test_list1_safe_name_and_upload_refs():
    from pathlib import Path

    import pytest

    from pipelines.console.uploads import UploadError, safe_name, upload_path

    assert safe_name("../../etc/Mes contacts (2).CSV") == "Mes_contacts_2.csv"
    assert safe_name("C:\\Users\\ana\\liste.txt") == "liste.txt"
    for bad in ("x.html", "liste", "liste.csv.exe", "", None):
        with pytest.raises(UploadError):
            safe_name(bad)
    assert upload_path(Path("/nonexistent"), "default", "../other/2026-01-01/0123456789abcdef/a.csv") is None


def test_list1_save_upload_caps_the_size_and_leaves_nothing_behind(tmp_path, monkeypatch):
    import pytest
    from starlette.datastructures import UploadFile

    from pipelines.console import uploads

    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10)
    monkeypatch.setattr(uploads, "CHUNK_BYTES", 4)
    big = UploadFile(io.BytesIO(b"Mobile\n0612345678\n"), filename="big.csv")
    with pytest.raises(uploads.UploadError, match="trop gros") as refused:
        uploads.save_upload(tmp_path, "default", big)
    assert refused.value.status == 413
    assert [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()] == []
    small = uploads.save_upload(tmp_path, "default", UploadFile(io.BytesIO(b"Mobile\n"), filename="ok.txt"))
    assert small.read_bytes() == b"Mobile\n" and small.parent.parent.parent == tmp_path / "uploads" / "default"
    assert uploads.upload_path(tmp_path, "default", uploads.upload_ref(tmp_path, "default", small)) == small
    assert uploads.upload_path(tmp_path, "autre", uploads.upload_ref(tmp_path, "default", small)) is None
