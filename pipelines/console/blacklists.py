"""The extranet's blacklists (BL-1, BL-2, PLUS-6): the same store functions as `smsflow blacklist`, in the browser.

/blacklists/own is the account's own blacklist, /blacklists/client its client's, /blacklists/global the
platform's: paged, searched by number, and changed (add, remove, import a file) by those who may: the account's
admins for its own and its client's (a `user` views and searches: 403 on a change), a superadmin alone for the
global one, which only a superadmin sees (its numbers come from every account). /blacklists/history is the
opt-out history. Every change is audited twice: the console's audit log and the store's opt-out audit, `by` the
person's login, as the CLI records its user.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipelines.console import uploads
from pipelines.console.blacklists_query import has_client, listed, opt_out_history
from pipelines.console.web import account_id, audit, engine_of, flash_url, not_found, page, page_number, person, \
    see_other
from pipelines.lists.header import ListError
from pipelines.store import blacklists as store
from pipelines.store.blacklists import BlacklistError
from pipelines.store.users import User

KINDS = {"own": "Ma liste noire", "client": "Liste noire client", "global": "Liste noire globale"}
MAX_TYPED = 1_000  # numbers typed in the form at once; more come as a file
_SEPARATORS = re.compile(r"[\r\n,;\t]+")


def may_see(user: User, kind: str) -> bool:
    return kind != "global" or user.superadmin


def may_change(user: User, kind: str) -> bool:
    """BL-1 and the issue's roles: a superadmin changes the global blacklist, an admin the account's and its
    client's; a `user` only reads."""
    return user.superadmin if kind == "global" else user.admin


def _kind(request: Request, *, change: bool = False) -> str:
    kind = request.path_params.get("kind", "own")
    if kind not in KINDS:
        raise not_found()
    user = person(request)
    if not may_see(user, kind):
        raise HTTPException(403, "La liste noire globale est réservée aux administrateurs de la plateforme")
    if change and not may_change(user, kind):
        raise HTTPException(403, "Seuls les administrateurs du compte modifient ses listes noires"
                            if kind != "global" else "Réservé aux administrateurs de la plateforme")
    return kind


def _url(kind: str) -> str:
    return f"/blacklists/{kind}"


async def show(request: Request):
    """GET /blacklists[/{kind}][?q=number&page=N]: one page of a blacklist, searched by number."""
    kind, engine, account = _kind(request), engine_of(request), account_id(request)
    text = request.query_params.get("q", "").strip()
    found = await run_in_threadpool(listed, engine, kind, account, search=text, page=page_number(request))
    user = person(request)
    client = await run_in_threadpool(has_client, engine, account)
    tabs = [(name, label) for name, label in KINDS.items() if may_see(user, name)]
    return page(request, "blacklists_show.html", kind=kind, title=KINDS[kind], tabs=tabs, found=found, query=text,
                url=_url(kind), editable=may_change(user, kind) and (kind != "client" or client),
                has_client=client,
                more=lambda number: f"{_url(kind)}?{urlencode({'q': text, 'page': number} if text else {'page': number})}")


def _numbers(raw: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(raw or "") if part.strip()]


def _failed(kind: str, message: str) -> Response:
    return see_other(flash_url(_url(kind), message, "error"))


def _invalid(numbers: list[str]) -> list[str]:
    """The typed entries that are not phone numbers (a typo would otherwise be listed as written)."""
    import polars as pl

    from pipelines.numbers import normalise_numbers

    verdicts = normalise_numbers(pl.Series(numbers, dtype=pl.String)).get_column("MF_VALID").fill_null(False)
    return [number for number, valid in zip(numbers, verdicts.to_list()) if not valid]


async def add(request: Request):
    """POST /blacklists/{kind}/add (numbers: one a line or comma-separated): listed, audited."""
    kind = _kind(request, change=True)
    form = await request.form()
    numbers = _numbers(str(form.get("numbers", "")))
    if not numbers:
        return _failed(kind, "Saisissez au moins un numéro.")
    if len(numbers) > MAX_TYPED:
        return _failed(kind, f"Au plus {MAX_TYPED} numéros saisis à la fois : importez un fichier pour plus.")
    wrong = await run_in_threadpool(_invalid, numbers)
    if wrong:
        return _failed(kind, f"Numéro(s) invalide(s) : {', '.join(wrong[:10])}{' …' if len(wrong) > 10 else ''} "
                             "(rien n'a été ajouté).")
    user = person(request)
    try:
        added = await run_in_threadpool(lambda: store.add_numbers(engine_of(request), kind, user.account_id,
                                                                  numbers, source="console", by=user.login))
    except BlacklistError as error:
        return _failed(kind, str(error))
    await run_in_threadpool(audit, request, f"blacklist.{kind}.add", ", ".join(numbers[:20]),
                            f"asked={len(numbers)} added={added}")
    return see_other(flash_url(_url(kind), f"{added} numéro(s) ajouté(s) à « {KINDS[kind]} » "
                                           f"({len(numbers) - added} déjà présent(s))."))


async def remove(request: Request):
    """POST /blacklists/{kind}/remove (number): taken off, audited."""
    kind = _kind(request, change=True)
    form = await request.form()
    number = str(form.get("number", "")).strip()
    if not number:
        return _failed(kind, "Indiquez le numéro à retirer.")
    user = person(request)
    try:
        removed = await run_in_threadpool(lambda: store.remove_numbers(engine_of(request), kind, user.account_id,
                                                                       [number], source="console", by=user.login))
    except BlacklistError as error:
        return _failed(kind, str(error))
    if not removed:
        return _failed(kind, f"{number} n'est pas dans « {KINDS[kind]} ».")
    await run_in_threadpool(audit, request, f"blacklist.{kind}.remove", number)
    return see_other(flash_url(_url(kind), f"{number} retiré de « {KINDS[kind]} »."))


async def import_numbers(request: Request):
    """POST /blacklists/{kind}/import (multipart `file`: a list with a mobile column, or one number a line)."""
    kind = _kind(request, change=True)
    user, bucket = person(request), request.app.state.bucket
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _failed(kind, "Choisissez un fichier (.csv ou .txt).")
        try:
            path = await run_in_threadpool(uploads.save_upload, bucket, user.account_id, upload)
        except uploads.UploadError as error:
            return _failed(kind, str(error))
    try:
        added = await run_in_threadpool(lambda: store.import_file(engine_of(request), kind, user.account_id, path,
                                                                  by=user.login))
    except (BlacklistError, ListError) as error:
        return _failed(kind, str(error).replace(str(path), path.name))
    await run_in_threadpool(audit, request, f"blacklist.{kind}.import", path.name, f"added={added}")
    return see_other(flash_url(_url(kind), f"{added} numéro(s) de {path.name} ajouté(s) à « {KINDS[kind]} »."))


async def history(request: Request):
    """GET /blacklists/history[?q=number&page=N]: the account's opt-out changes, newest first (PLUS-6)."""
    user, text = person(request), request.query_params.get("q", "").strip()
    found = await run_in_threadpool(opt_out_history, engine_of(request), user.account_id, search=text,
                                    page=page_number(request), with_global=user.superadmin)
    tabs = [(name, label) for name, label in KINDS.items() if may_see(user, name)]
    return page(request, "blacklists_history.html", found=found, query=text, tabs=tabs, kinds=KINDS,
                more=lambda number: f"/blacklists/history?{urlencode({'q': text, 'page': number} if text else {'page': number})}")


routes = [
    Route("/blacklists", show, methods=["GET"]),
    Route("/blacklists/history", history, methods=["GET"]),
    Route("/blacklists/{kind}", show, methods=["GET"]),
    Route("/blacklists/{kind}/add", add, methods=["POST"]),
    Route("/blacklists/{kind}/remove", remove, methods=["POST"]),
    Route("/blacklists/{kind}/import", import_numbers, methods=["POST"]),
]
