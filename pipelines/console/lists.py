"""The extranet's saved lists (LIST-4): the same store functions as `smsflow lists`, in the browser.

/lists shows the account's lists and imports a new one (or a new version) from an upload previewed first;
/lists/{name} shows a list's versions and first recipients, searches it, adds or removes a recipient and deletes
it. Another account's list is as absent as a missing one (404, ACC-3); every change is audited.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from pipelines.console import uploads
from pipelines.console.web import (
    account_id, audit, engine_of, flash_url, not_found, page, see_other, whole_number,
)
from pipelines.lists.header import ListError
from pipelines.store import lists as saved_lists
from pipelines.store.lists import SavedListError

SHOWN_ROWS = 50  # recipients on a list's page; search finds the others


def list_url(name: str) -> str:
    return f"/lists/{quote(name, safe='')}"


async def index(request: Request):
    """GET /lists: the account's saved lists (name, recipients, version, last change) and the import form."""
    found = await run_in_threadpool(saved_lists.list_lists, engine_of(request), account_id(request))
    return page(request, "lists_index.html", lists=found)


async def import_upload(request: Request):
    """POST /lists/import (name, upload): save the previewed upload as a saved list or its new version."""
    form = await request.form()
    name, ref = str(form.get("name", "")).strip(), str(form.get("upload", ""))
    bucket, account = request.app.state.bucket, account_id(request)
    path = uploads.upload_path(bucket, account, ref)
    if path is None:
        return page(request, "lists_import.html", status_code=400, preview=None, upload=None,
                    refusal="Choisissez d'abord un fichier et vérifiez son aperçu.")
    try:
        saved = await run_in_threadpool(saved_lists.import_list, engine_of(request), account, name, path)
    except (SavedListError, ListError) as error:
        shown = await run_in_threadpool(uploads.preview, path)
        return page(request, "lists_import.html", status_code=400, preview=shown, upload=ref, name=name,
                    failure=str(error).replace(str(path), uploads.display_name(path)))
    await run_in_threadpool(audit, request, "list.import", saved.name,
          f"version={saved.version} rows={saved.rows} file={uploads.display_name(path)}")
    return see_other(flash_url(list_url(saved.name), f"Liste « {saved.name} » enregistrée : version "
                                                    f"{saved.version}, {saved.rows} destinataires."))


def _version_param(request: Request) -> int | None:
    """`?version=N`: None when absent; a value no version can have (`²`, 0, 5,000 digits) is a missing one (404)."""
    raw = request.query_params.get("version", "")
    if not raw:
        return None
    version = whole_number(raw)
    if version is None:
        raise not_found("Version introuvable")
    return version


async def show(request: Request):
    """GET /lists/{name}[?version=N][&q=text]: a version's first recipients (or those found), its versions."""
    name, engine, account = request.path_params["name"], engine_of(request), account_id(request)
    version, text = _version_param(request), request.query_params.get("q", "").strip()
    try:
        view = await run_in_threadpool(saved_lists.show, engine, account, name, version, limit=SHOWN_ROWS)
        if text:
            view = await run_in_threadpool(saved_lists.search, engine, account, name, text, version)
    except SavedListError:
        raise not_found("Liste introuvable") from None
    others = [column for column in view.version.columns if column != view.version.mobile_column]
    return page(request, "lists_show.html", view=view, others=others, query=text, url=list_url(name))


async def _change(request: Request, change, *args):
    """Run a store change on the list of the URL; a missing list is 404, a refused change shown on its page."""
    name, engine, account = request.path_params["name"], engine_of(request), account_id(request)
    try:
        await run_in_threadpool(saved_lists.show, engine, account, name, limit=0)
    except SavedListError:
        raise not_found("Liste introuvable") from None
    try:
        return await run_in_threadpool(change, engine, account, name, *args)
    except SavedListError as error:
        return see_other(flash_url(list_url(name), str(error), "error"))


async def add_recipient(request: Request):
    """POST /lists/{name}/add (number, field:<column>…): a new version with this recipient."""
    form = await request.form()
    number = str(form.get("number", "")).strip()
    fields = {key.removeprefix("field:"): str(value) for key, value in form.multi_items()
              if key.startswith("field:") and str(value).strip()}
    saved = await _change(request, saved_lists.add, number, fields)
    if not isinstance(saved, saved_lists.SavedList):
        return saved
    await run_in_threadpool(audit, request, "list.add", saved.name, f"number={number} version={saved.version}")
    return see_other(flash_url(list_url(saved.name), f"{number} ajouté : version {saved.version}."))


async def remove_recipient(request: Request):
    """POST /lists/{name}/remove (number): a new version without this number (older versions keep it)."""
    form = await request.form()
    number = str(form.get("number", "")).strip()
    saved = await _change(request, saved_lists.remove, number)
    if not isinstance(saved, saved_lists.SavedList):
        return saved
    await run_in_threadpool(audit, request, "list.remove", saved.name, f"number={number} version={saved.version}")
    return see_other(flash_url(list_url(saved.name), f"{number} retiré : version {saved.version}."))


async def delete_list(request: Request):
    """POST /lists/{name}/delete: the list and all its versions (campaigns keep the files they used)."""
    saved = await _change(request, saved_lists.delete)
    if not isinstance(saved, saved_lists.SavedList):
        return saved
    await run_in_threadpool(audit, request, "list.delete", saved.name,
                            f"versions={saved.version} rows={saved.rows}")
    return see_other(flash_url("/lists", f"Liste « {saved.name} » supprimée."))


routes = uploads.routes + [
    Route("/lists", index, methods=["GET"]),
    Route("/lists/import", import_upload, methods=["POST"]),
    Route("/lists/{name}", show, methods=["GET"]),
    Route("/lists/{name}/add", add_recipient, methods=["POST"]),
    Route("/lists/{name}/remove", remove_recipient, methods=["POST"]),
    Route("/lists/{name}/delete", delete_list, methods=["POST"]),
]
