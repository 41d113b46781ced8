"""Issue 10, the CLI's guard-rails: every user error of every command is one line « Refused: … » (exit 2), never a
traceback; the Airflow run id is taken wherever a campaign id is; nothing is hard-wrapped off a terminal; the help
shows defaults and flags as flags; mistyped names get the nearest ones. Run in-process (helpers.smsflow_here)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
import typer
from helpers import smsflow_here, write_list, write_spec

from pipelines.cli import app

RUN_ID = "manual__2026-11-25T10:00:00.123+00:00"  # as the Airflow run page shows it


def _commands(command=None, path=()):
    """Every command of `smsflow`, as its path of names (a group's subcommands, never the group): a command
    added later is covered without touching this test."""
    command = command or typer.main.get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


def _dummy(param) -> list[str]:
    value = "1" if param.type_descriptor.annotation in (int, float) else "x"
    return [value] if param.param_type_name == "argument" else [param.opts[0], value]


def _refused_in_one_line(result, *words: str) -> None:
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown, shown
    assert result.returncode == 2, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Refused: "), shown
    for word in words:
        assert word in lines[0], lines[0]


def test_issue10_every_command_refuses_unknown_options_missing_arguments_and_bad_values_in_one_line():
    walked = {" ".join(path) for path, _ in _commands()}
    assert {"plan", "send", "receive", "stats", "report", "sql", "campaigns show", "lists import"} <= walked
    for path, command in _commands():
        _refused_in_one_line(smsflow_here(*path, "--no-such-option"), "--no-such-option", "--help")
        required = [param for param in command.params if param.required]
        if required:  # a command without one would run for real: those are not called bare
            _refused_in_one_line(smsflow_here(*path))
        given = [value for param in required for value in _dummy(param)]
        for param in command.params:
            descriptor = param.type_descriptor
            if param.param_type_name == "option" and not param.is_flag and (
                    descriptor.is_choice or descriptor.annotation in (int, float)):
                _refused_in_one_line(smsflow_here(*path, *given, param.opts[0], "not-a-value"), param.opts[0])


def test_issue10_a_mistyped_command_gets_the_nearest_one():
    _refused_in_one_line(smsflow_here("sendd"), "Did you mean 'send'?")
    _refused_in_one_line(smsflow_here("campaigns", "shwo"), "Did you mean 'show'?")


def test_issue10_help_shows_flags_as_flags_defaults_and_help_for_every_option():
    for path, command in _commands():
        shown = smsflow_here(*path, "--help")
        assert shown.returncode == 0 and "<bool>" not in shown.stdout, (path, shown.stdout)
        assert "…" not in shown.stdout, (path, shown.stdout)  # nothing cut off
        said = " ".join(shown.stdout.replace("│", " ").split())
        for text in [command.help or "", *(param.help or "" for param in command.params)]:
            for placeholder in re.findall(r"<[a-z][a-z _-]*>", text):  # the help is Markdown: <id> must show
                assert placeholder in said, f"smsflow {' '.join(path)} --help lost {placeholder}"
        if command.callback.__module__.startswith("pipelines.cli."):  # the core's commands (not the demo's)
            missing = [param.opts[0] for param in command.params if param.param_type_name == "option"
                       and not param.help]
            assert not missing, f"smsflow {' '.join(path)}: no help for {missing}"
    send = " ".join(smsflow_here("send", "--help").stdout.split())
    assert "[default: 10000]" in send and "--release-held SEND-7" in send  # a default shown; a flag takes no value
    assert "Parallel SMPP binds" in send and "else 64" in send


def test_issue10_help_lists_commands_in_the_order_a_newcomer_uses_them():
    shown = smsflow_here("--help").stdout
    order = ["plan", "test-send", "send", "receive", "load", "stats", "report", "sql", "campaigns", "lists",
             "sample", "account", "credits", "blacklist"]
    positions = [shown.index(f"│ {name} ") for name in order]
    assert positions == sorted(positions), shown
    assert shown.index("Run a campaign, step by step") < shown.index("Administration")


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[Path, str]:
    """A bucket deeper than any terminal is wide, with campaigns 'soldes' and the one of an Airflow run planned
    (bucket/campaigns/<id>/plan), 'soldes' loaded into its warehouse; the run's campaign in the account store."""
    from pipelines.layout import CampaignPaths, campaign_folder_name
    from pipelines.plan import plan_file
    from pipelines.store import campaigns, open_store
    from pipelines.warehouse import load_plan

    bucket = tmp_path / ("a-folder-name-long-enough-" * 8) / "bucket"
    write_list(bucket / "list.csv", "Mobile;Prénom\n0611111111;Ann\nabc;Léo\n")
    spec = write_spec(bucket, lists=["list.csv"])
    folder = campaign_folder_name(RUN_ID)
    for name in ("soldes", folder):
        plan_file(spec, CampaignPaths.in_bucket(bucket, name).plan)
    load_plan(bucket / "warehouse.duckdb", "soldes", CampaignPaths.in_bucket(bucket, "soldes").plan)
    campaigns.create(open_store(), spec.read_text(encoding="utf-8"), campaign_id=folder, status="scheduled",
                     run_id=RUN_ID, base=bucket)
    return bucket / "warehouse.duckdb", folder


def test_issue10_user_errors_are_one_line_refusals_with_the_rule_and_the_nearest_names(warehouse, tmp_path: Path):
    db, _ = warehouse
    _refused_in_one_line(smsflow_here("stats", "soldez", "--db", str(db)), "did you mean 'soldes'?", "[CAMP-4]")
    _refused_in_one_line(smsflow_here("report", "soldes", "--db", str(db), "--category", "deliverd"),
                         "did you mean 'delivered'", "[REP-2]")
    _refused_in_one_line(smsflow_here("load", "soldez", "--db", str(db)), "did you mean 'soldes'?")
    _refused_in_one_line(smsflow_here("stats", "soldes", "--db", str(tmp_path / "none.duckdb")), "[REP-1]")
    _refused_in_one_line(smsflow_here("sql", "SELEC 1", "--db", str(db)), "the query is refused")
    _refused_in_one_line(smsflow_here("campaigns", "show", "manual__2026-11-25T10:00:00.123+00:0"),
                         "did you mean 'manual__2026-11-25T10_00_00.123_00_00'?", "[CAMP-4, ACC-3]")
    _refused_in_one_line(smsflow_here("campaigns", "cancel", "nope"), "no campaign 'nope'")
    _refused_in_one_line(smsflow_here("campaigns", "list", "--status", "draf"), "did you mean 'draft'?")
    _refused_in_one_line(smsflow_here("send", str(tmp_path / "no-plan")), "[PLUS-2]")
    _refused_in_one_line(smsflow_here("receive", str(tmp_path / "events"), "--smsc", "http://a:secret@x"))
    _refused_in_one_line(smsflow_here("lists", "import", "vip", str(tmp_path / "none.csv")), "[LIST-1]")
    _refused_in_one_line(smsflow_here("blacklist", "import", str(tmp_path / "none.csv")), "[BL-1]")
    _refused_in_one_line(smsflow_here("account", "set", "default", "--max-parts", "9"), "[ACC-1, ENC-5]")
    _refused_in_one_line(smsflow_here("credits", "topup", "10", "--account", "nobody"), "[ACC-1]")
    assert smsflow_here("account", "create", "acme").returncode == 0
    write_list(tmp_path / "vip.csv", "Mobile\n0611111111\n")
    assert smsflow_here("lists", "import", "clients-vip", str(tmp_path / "vip.csv")).returncode == 0
    _refused_in_one_line(smsflow_here("credits", "balance", "--account", "acmee"), "did you mean 'acme'? [ACC-1]")
    _refused_in_one_line(smsflow_here("lists", "show", "clients-vp"), "did you mean 'clients-vip'? [LIST-4]")
    _refused_in_one_line(smsflow_here("erase", "abc"), "[PLUS-8]")
    _refused_in_one_line(smsflow_here("smsc", "--config", str(tmp_path / "none.yaml")), "none.yaml")
    for spec_command in (("plan", "--out", str(tmp_path / "plan")), ("test-send",), ("campaigns", "create")):
        refused = smsflow_here(*spec_command, str(tmp_path / "none.yaml"))  # the spec's problems, one a line
        assert refused.returncode == 2 and refused.stderr.startswith("Refused: "), refused.stderr
        assert "Traceback" not in refused.stderr and "[CAMP-2]" in refused.stderr


def test_camp4_the_airflow_run_id_is_taken_wherever_a_campaign_id_is(warehouse):
    """CAMP-4: the run id as the run page shows it, or %-escaped as in its address, names its campaign for load,
    stats, report and campaigns; report writes into the campaign's report folder and prints the path whole."""
    db, folder = warehouse
    loaded = smsflow_here("load", RUN_ID, "--db", str(db))
    assert loaded.returncode == 0 and f"{folder}: 2 planned rows, 0 parts, 0 events loaded" in loaded.stderr, \
        loaded.stderr
    for given in (RUN_ID, quote(RUN_ID, safe=""), folder):
        stats = smsflow_here("stats", given, "--db", str(db), "--json")
        assert stats.returncode == 0 and json.loads(stats.stdout)["campaign_id"] == folder, stats.stderr
    shown = smsflow_here("campaigns", "show", RUN_ID, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == folder, shown.stderr
    # a draft sent by a run keeps its own id: the run id finds it in the store, and in the warehouse through it
    from pipelines.store import campaigns, open_store
    from pipelines.warehouse import load_plan

    other_run = "manual__2026-11-26T09:30:00+00:00"
    campaigns.create(open_store(), json.loads(shown.stdout)["spec"], campaign_id="soldes-vip")
    campaigns.schedule(open_store(), "soldes-vip", other_run)
    load_plan(db, "soldes-vip", db.parent / "campaigns" / "soldes" / "plan")
    assert json.loads(smsflow_here("campaigns", "show", other_run, "--json").stdout)["id"] == "soldes-vip"
    assert json.loads(smsflow_here("stats", other_run, "--db", str(db), "--json").stdout)["campaign_id"] == \
        "soldes-vip"

    report = smsflow_here("report", RUN_ID, "--db", str(db), "--category", "Invalid")
    path = db.parent / "campaigns" / folder / "report" / f"{folder}-invalid.csv"
    assert report.returncode == 0 and path.is_file(), report.stderr
    assert report.stderr == f"1 row (invalid) written to {path}\n"  # one line, however long the path
    assert len(str(path)) > 200  # longer than the COLUMNS the tests set: it would have been wrapped


def test_issue10_sql_runs_a_query_on_the_warehouse_as_a_table_or_csv(warehouse):
    db, _ = warehouse
    query = "SELECT campaign_id, count(*) AS recipients FROM plan_recipients GROUP BY ALL ORDER BY 1"
    table = smsflow_here("sql", query, "--db", str(db))
    assert table.returncode == 0 and "soldes" in table.stdout and "recipients" in table.stdout, table.stderr
    assert table.stderr == "1 row\n"
    as_csv = smsflow_here("sql", query, "--db", str(db), "--csv")
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [["campaign_id", "recipients"], ["soldes", "2"]]
    as_json = smsflow_here("sql", query, "--db", str(db), "--json")  # REP-3 (issue 11): --json too
    assert json.loads(as_json.stdout) == [{"campaign_id": "soldes", "recipients": 2}]
    _refused_in_one_line(smsflow_here("sql", query, "--db", str(db), "--csv", "--json"), "choose one of")


def test_plus4_receive_counts_receipts_and_replies_as_they_come(smsc, bucket):
    """`receive` is not silent: the receiver tells each new count, and the command prints it on stderr."""
    from helpers import make_plan

    from pipelines.dispatch import SmscSettings, receive, send_plan

    simulator = smsc(receipt_delay=0.3, replies=[{"number": "33611111111", "text": "Merci", "delay": 0.0}])
    send_plan(make_plan(bucket, [("0611111111", "A"), ("0622222222", "B")]), SmscSettings.from_url(simulator.url()))
    told = []
    received = receive(SmscSettings.from_url(simulator.url()), bucket / "events", seconds=30,
                       until=lambda report: report.receipts >= 2 and report.replies >= 1,
                       progress=lambda report: told.append((report.receipts, report.replies)))
    assert (received.receipts, received.replies) == (2, 1)
    assert told[0] == (0, 0) and told == sorted(set(told)) and told[-1] == (2, 1)  # each change, in order
    listened = smsflow_here("receive", str(bucket / "late"), "--smsc", simulator.url(), "--seconds", "0.5")
    assert listened.returncode == 0, listened.stderr
    first, last = listened.stderr.strip().splitlines()
    assert first.startswith("Listening for 0.5 s: 0 receipts, 0 replies, 0 numbers opted out")
    assert "written to" in last and str(bucket / "late") in last


def test_issue10_ctrl_c_says_what_it_means_and_how_to_resume():
    """typer turns Ctrl-C into exit code 130 without a word; smsflow says it was stopped and how to resume."""

    def interrupted() -> None:
        raise KeyboardInterrupt

    app.command("interrupted-for-the-test")(interrupted)
    try:
        result = smsflow_here("interrupted-for-the-test")
    finally:
        app.registered_commands.pop()
    assert result.returncode == 130 and "Traceback" not in result.stderr
    assert result.stderr == "Interrupted: stopped by the user; run the same command again to resume\n"
