"""What the extranet's security tests share (issue 14 §3): the app's routes enumerated from `app.routes` and
their path parameters filled with one account's objects, two accounts with real objects made through the store
(the CLI's library), a logged-in browser, and what a refused request must leave unchanged."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml
from console_helpers import PASSWORD, add_user, client, console_app, csrf_of, log_in
from sqlalchemy import func, select

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
REP2_CATEGORY = "delivered"  # pipelines.report.CATEGORIES: a real category, so only the campaign id is at stake
# Names a spreadsheet would run as formulas (REP-2: the CSV neutralises them), and one that is only a name.
FORMULAS = ("=1+1", "+33 cmd", "-2+3", "@SUM(A1)")
LIST_FILE = "Mobile;Prénom\n" + "".join(f"06123456{index:02d};{name}\n" for index, name in enumerate(FORMULAS + ("Zoé",)))
RIVAL_LIST = "Mobile;CodeSecretRival\n0698765432;rival-0001\n"  # a column only the other account's list has


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
                ran: bool = True, list_text: str = LIST_FILE) -> Owned:
    """An admin, a saved list, a draft campaign on it and (`ran`) a campaign that ran, in `account`, made through
    the store (the CLI's library)."""
    from pipelines.store import campaigns
    from pipelines.store.lists import import_list

    user = add_user(app, login, account=account, role="admin")
    folder = tmp_path / account
    folder.mkdir()
    (folder / "clients.csv").write_text(list_text, encoding="utf-8")
    import_list(app.state.engine, account, list_name, folder / "clients.csv")
    spec = {"name": campaign_name, "type": "notification", "message": "Bonjour, à bientôt", "lists": ["clients.csv"]}
    draft = campaigns.create(app.state.engine, spec, account, base=folder)
    ran_id = ran_campaign(app, folder, account, f"{account}-ran", {**spec, "name": f"{campaign_name} envoyée"}) \
        if ran else draft.id
    return Owned(account, login, user.id, draft.id, campaign_name, list_name, ran_id)


def ran_campaign(app, folder, account: str, campaign_id: str, spec: dict) -> str:
    """A campaign of `account` planned and loaded into the bucket's lake, then finished in the store: its report
    page and CSV exist (no message is sent: every recipient stays pending)."""
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
    theirs = own_objects(app, tmp_path, "rival", "rene@rival.example", "Plan secret Rival", "clients-secrets-rival",
                         list_text=RIVAL_LIST)
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



def token_of(browser) -> str:
    """The CSRF token of the logged-in session, from the form every page carries (the logout button)."""
    return csrf_of(browser.get("/"))


def enrol_totp(browser) -> tuple[object, str]:
    """Enrol an authenticator app on /account as a person does: the secret read from the page, a first code."""
    import pyotp

    token = token_of(browser)
    chosen = browser.post("/account/second-factor", data={"method": "totp", "current": PASSWORD, "csrf_token": token})
    assert chosen.status_code == 303, chosen.text[:800]  # the current password again: USER-2's sensitive change
    shown = browser.get("/account/second-factor?method=totp")
    secret = re.search(r'id="secret">([A-Z2-7]+)<', shown.text).group(1)
    totp = pyotp.TOTP(secret)
    first = totp.now()
    confirmed = browser.post("/account/second-factor/confirm",
                             data={"method": "totp", "code": first, "csrf_token": token})
    assert confirmed.status_code == 200 and "secours" in confirmed.text, confirmed.text[:800]
    return totp, first
