"""Tracked links at plan time (URL-1, URL-2, URL-4, URL-5, ENC-6): real lists planned into a real plan folder,
links.parquet read back as the links service reads it."""

from __future__ import annotations

import io
import json
import re

import polars as pl
import pytest
from helpers import write_list, write_spec
from PIL import Image

from pipelines.layout import LINKS_FILE
from pipelines.links.detect import LinkError, find_urls
from pipelines.links.plan import LINKS_SCHEMA, encode_values
from pipelines.links.tokens import ALPHABET, TokenPool, text_column
from pipelines.plan import plan_file
from pipelines.spec import SpecError, validate_spec

TOKEN = re.compile(r"^[0-9A-Za-z]+$")
LIST = ("Mobile;Prénom;ID\n0611111111;Ann;a b&c\n0622222222;Léo;42\n0622222222;Léo;dup\nabc;Zoé;7\n"
        "0633333333;Lou;é/ü?\n")


def _plan(tmp_path, message, tracking=None, rows=LIST, **spec):
    write_list(tmp_path / "list.csv", rows)
    spec_path = write_spec(tmp_path, lists=["list.csv"], message=message, tracking=tracking or {}, **spec)
    result = plan_file(spec_path, tmp_path / "campaign" / "plan")
    return result, pl.read_parquet(result.out_dir / "recipients.parquet"), result.out_dir / LINKS_FILE


def _png(width=600, height=280, noise=False) -> bytes:
    image = Image.effect_noise((width, height), 120).convert("RGB") if noise else Image.new("RGB", (width, height))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_url1_trailing_punctuation_is_not_part_of_the_url():
    found = find_urls("Voir https://a.fr/x. Ou (www.b.com/p?a=1&b=2), ou https://c.fr/y, écrivez à moi@d.fr")
    assert [url.source for url in found.urls] == ["https://a.fr/x", "www.b.com/p?a=1&b=2", "https://c.fr/y"]
    assert [url.target_template for url in found.urls][1] == "http://www.b.com/p?a=1&b=2"  # a bare domain
    assert found.template == "Voir ${track_1}. Ou (${track_2}), ou ${track_3}, écrivez à moi@d.fr"


def test_url2_fields_inside_a_url_stay_in_it():
    found = find_urls("Bonjour ${Prénom}: https://www.monsite.com/id=${ID}&c=${Code Promo}! https://x.fr")
    assert found.urls[0].source == "https://www.monsite.com/id=${ID}&c=${Code Promo}"
    assert [url.n for url in found.urls] == [1, 2]
    assert find_urls("https://x.fr/?a={{ ID }}").urls[0].source == "https://x.fr/?a=${ID}"
    with pytest.raises(LinkError, match=r"URL-2"):
        find_urls("https://x.fr/{{ Nom | lower }}")
    in_condition = find_urls("{% if VIP %}https://x.fr/vip{% else %}https://x.fr{% endif %} STOP 36184")
    assert [url.source for url in in_condition.urls] == ["https://x.fr/vip", "https://x.fr"]


def test_url2_values_percent_encoded_fixed_parts_kept():
    values = pl.Series(["a b&c", "42", "é/ü?", "A-z_0.9~"])
    assert encode_values(values).to_list() == ["a%20b%26c", "42", "%C3%A9%2F%C3%BC%3F", "A-z_0.9~"]


def test_url5_tokens_alphabet_length_and_unique_across_draws():
    pool = TokenPool(9)
    draws = [pool.draw(50_000) for _ in range(4)]
    tokens = pl.concat([pl.from_arrow(text_column(codes)) for codes in draws])
    assert tokens.n_unique() == tokens.len() == 200_000
    assert tokens.str.contains(r"^[0-9A-Za-z]{9}$").all()
    short = pl.from_arrow(text_column(draws[0], b"sms.ex.fr/"))
    assert short.str.len_chars().unique().to_list() == [19] and short[0].startswith("sms.ex.fr/")
    used = set("".join(pl.from_arrow(text_column(draws[0])).to_list()))
    assert used == set(ALPHABET.decode())  # every one of the 62 characters, and no other


def test_url5_a_colliding_token_is_drawn_again(monkeypatch):
    """The CSPRNG cannot be made to collide here: its bytes are replayed, so the second draw repeats the first."""
    import secrets

    import pipelines.links.tokens as tokens

    real = secrets.token_bytes
    recorded: list[bytes] = []
    monkeypatch.setattr(tokens.secrets, "token_bytes", lambda n: recorded.append(real(n)) or recorded[-1])
    pool = TokenPool(8)
    first = pool.draw(1_000)
    replay = iter(list(recorded))
    monkeypatch.setattr(tokens.secrets, "token_bytes", lambda n: next(replay, None) or real(n))
    second = pool.draw(1_000)
    assert pool.redrawn >= 1_000
    both = pl.concat([pl.from_arrow(text_column(first)), pl.from_arrow(text_column(second))])
    assert both.n_unique() == 2_000


def test_url5_domain_too_long_is_refused():
    spec = {"name": "t", "type": "notification", "recipients": [{"mobile": "0611111111"}], "message": "x"}
    with pytest.raises(SpecError) as refused:
        validate_spec({**spec, "tracking": {"domain": "sms.example.fr"}})
    (problem,) = refused.value.problems
    assert (problem.field, problem.rule) == ("tracking.domain", "URL-5")
    assert "leaves 4 token characters" in problem.message
    assert validate_spec({**spec, "tracking": {"domain": "sms.ex.fr"}}).tracking.token_length == 9
    assert validate_spec({**spec, "tracking": True}).tracking.domain_or_default == "smsf.link"


def test_url1_url2_plan_links_personalised_encoded_unique_and_19_characters(tmp_path):
    result, recipients, links_path = _plan(
        tmp_path, "Bonjour ${Prénom}, https://www.monsite.com/id=${ID}. Et https://shop.fr/soldes.",
        {"domain": "sms.ex.fr"})
    links = pl.read_parquet(links_path)
    sendable = recipients.filter(pl.col("STATUS_CODE").is_null())
    assert sendable.height == 3 and links.height == 6  # only sendable rows get links, 2 each
    assert links.get_column("short_url").str.len_chars().unique().to_list() == [19]
    assert links.get_column("token").n_unique() == 6 and links.get_column("token").str.contains(TOKEN.pattern).all()
    assert (links.get_column("short_url") == "sms.ex.fr/" + links.get_column("token")).all()
    targets = dict(zip(links.filter(pl.col("link") == 1).get_column("id_line"),
                       links.filter(pl.col("link") == 1).get_column("target")))
    assert targets == {1: "https://www.monsite.com/id=a%20b%26c", 2: "https://www.monsite.com/id=42",
                       5: "https://www.monsite.com/id=%C3%A9%2F%C3%BC%3F"}
    assert set(links.filter(pl.col("link") == 2).get_column("target")) == {"https://shop.fr/soldes"}
    for row in sendable.iter_rows(named=True):  # each message holds its own two short links, in order
        mine = links.filter(pl.col("id_line") == row["ID_LINE"]).sort("link").get_column("short_url").to_list()
        assert row["MESSAGE"] == f"Bonjour {row['Prénom']}, {mine[0]}. Et {mine[1]}."
    summary = result.summary
    assert summary["campaign"]["tracking"] is True
    assert summary["tracking"]["links_per_message"] == 2 and summary["tracking"]["links"] == 6
    assert summary["tracking"]["template"] == "Bonjour ${Prénom}, ${track_1}. Et ${track_2}."
    marker = json.loads((result.out_dir / ".smsflow-plan").read_text())
    assert LINKS_FILE in marker["files"]


def test_url1_links_parquet_schema_is_the_contract(tmp_path):
    _, _, links_path = _plan(tmp_path, "Voir https://x.fr/${ID}", {"domain": "ab.fr", "lifetime_days": 30,
                                                                   "preview": {"title": "T", "description": "D"}})
    import pyarrow.parquet as pq

    assert pq.read_schema(links_path).remove_metadata().equals(LINKS_SCHEMA)
    links = pl.read_parquet(links_path)
    assert links.schema == pl.Schema({"token": pl.String, "short_url": pl.String, "ref_list": pl.String,
                                      "id_line": pl.Int64, "link": pl.Int32, "target": pl.String,
                                      "title": pl.String, "description": pl.String, "image": pl.String,
                                      "expires_at": pl.Datetime("us", "UTC")})
    assert links.get_column("token").str.len_chars().unique().to_list() == [13]  # 19 - len("ab.fr/")
    assert links.get_column("ref_list").unique().to_list() == ["list.csv"]
    assert links.get_column("image").is_null().all() and links.get_column("expires_at").is_not_null().all()


def test_enc6_parts_and_credits_count_the_short_link_not_the_long_url(tmp_path):
    long_url = "https://www.monsite.com/" + "promotions/" * 10 + "?utm_source=sms"
    message = "Bonjour ${Prénom}, nos soldes: " + long_url + " a bientot"
    assert len(message) > 160
    rows = "Mobile;Prénom;ID\n0611111111;Ann;1\n0622222222;Léo;2\n"
    write_list(tmp_path / "plain" / "list.csv", rows)
    untracked = plan_file(write_spec(tmp_path / "plain", lists=["list.csv"], message=message),
                          tmp_path / "plain" / "out")
    assert untracked.summary["parts"] == {"2": 2} and untracked.summary["credits"] == 4
    result, recipients, _ = _plan(tmp_path / "tracked", message, {"domain": "sms.ex.fr"}, rows=rows)
    assert result.summary["parts"] == {"1": 2} and result.summary["credits"] == 2
    assert recipients.get_column("PARTS").to_list() == [1, 1]
    worst = result.summary["worst_case"]  # the editor's counter: the short link's 19 characters
    assert worst["parts"] == 1 and "sms.ex.fr/XXXXXXXX1" in worst["message"]
    assert worst["length"] == len(message.replace(long_url, "x" * 19).replace("${Prénom}", "Léo"))


def test_url2_an_empty_url_field_without_default_is_a_personalisation_error(tmp_path):
    rows = "Mobile;ID\n0611111111;\n0622222222;9\n"
    _, recipients, links_path = _plan(tmp_path, "https://x.fr/${ID}", {}, rows=rows)
    assert recipients.get_column("STATUS_CODE").to_list() == [5, None]
    assert pl.read_parquet(links_path).get_column("id_line").to_list() == [2]


def test_url4_preview_personalised_and_a_long_rendering_cut(tmp_path):
    rows = "Mobile;Prénom\n0611111111;Ann\n0622222222;" + "L" * 60 + "\n"
    tracking = {"preview": {"title": "${Prénom}, -20 %", "description": "Soldes pour ${Prénom}"}}
    result, _, links_path = _plan(tmp_path, "https://x.fr", tracking, rows=rows)
    links = pl.read_parquet(links_path).sort("id_line")
    assert links.get_column("title").to_list() == ["Ann, -20 %", "L" * 39 + "…"]
    assert links.get_column("description").to_list()[0] == "Soldes pour Ann"
    assert any("1 personalised preview titles" in warning for warning in result.summary["tracking"]["warnings"])


def test_url4_preview_title_too_long_refused():
    spec = {"name": "t", "type": "notification", "recipients": [{"mobile": "0611111111"}], "message": "x",
            "tracking": {"preview": {"title": "T" * 41, "description": "D" * 81}}}
    with pytest.raises(SpecError) as refused:
        validate_spec(spec)
    assert {(problem.field, problem.rule) for problem in refused.value.problems} == {
        ("tracking.preview.title", "URL-4"), ("tracking.preview.description", "URL-4")}


def test_url4_preview_image_checked_by_content_size_and_advised_dimensions(tmp_path):
    write_list(tmp_path / "list.csv", "Mobile\n0611111111\n")
    (tmp_path / "fake.png").write_text("not an image")
    (tmp_path / "big.png").write_bytes(_png(900, 600, noise=True))
    gif = io.BytesIO()
    Image.new("RGB", (600, 280)).save(gif, format="GIF")
    (tmp_path / "anim.jpg").write_bytes(gif.getvalue())
    for name, reason in (("fake.png", "not an image"), ("big.png", "at most 300,000"), ("anim.jpg", "GIF"),
                         ("missing.png", "not found")):
        spec = write_spec(tmp_path, lists=["list.csv"], message="https://x.fr",
                          tracking={"preview": {"title": "T", "description": "D", "image": name}})
        with pytest.raises(SpecError, match=reason) as refused:
            plan_file(spec, tmp_path / "out")
        assert refused.value.problems[0].rule == "URL-4"
    (tmp_path / "small.png").write_bytes(_png(300, 140))
    spec = write_spec(tmp_path, lists=["list.csv"], message="https://x.fr",
                      tracking={"preview": {"title": "T", "description": "D", "image": "small.png"}})
    result = plan_file(spec, tmp_path / "out")
    assert (result.out_dir / "preview.png").read_bytes() == (tmp_path / "small.png").read_bytes()
    assert pl.read_parquet(result.out_dir / LINKS_FILE).get_column("image").to_list() == ["preview.png"]
    assert any("300×140; 600×280 is advised" in warning for warning in result.summary["tracking"]["warnings"])


def test_url1_a_replan_without_tracking_leaves_no_links(tmp_path):
    result, _, links_path = _plan(tmp_path, "https://x.fr", {})
    (result.out_dir / "notes.txt").write_text("mine")  # a foreign file: files are replaced one by one
    assert links_path.exists()
    spec = write_spec(tmp_path, lists=["list.csv"], message="https://x.fr")
    untracked = plan_file(spec, result.out_dir)
    assert not links_path.exists() and untracked.summary["campaign"]["tracking"] is False
    assert "tracking" not in untracked.summary and (result.out_dir / "notes.txt").exists()


def test_send3_the_test_message_carries_the_test_rows_own_short_links(tmp_path):
    result, _, links_path = _plan(tmp_path, "Bonjour ${Prénom}: https://x.fr/${ID}", {},
                                  test={"numbers": "0699999999", "row": 2})
    mine = pl.read_parquet(links_path).filter(pl.col("id_line") == 2).get_column("short_url").to_list()
    assert result.summary["test"]["message"] == f"Bonjour Léo: {mine[0]}"


def test_url2_url4_a_field_only_one_list_has_is_empty_in_the_others(tmp_path):
    write_list(tmp_path / "a.csv", "Mobile;Prénom;ID\n0611111111;Ann;1\n")
    write_list(tmp_path / "b.csv", "Mobile\n0622222222\n")
    spec = write_spec(tmp_path, lists=["a.csv", "b.csv"], message="https://x.fr/${ID}", defaults={"ID": "0"},
                      tracking={"preview": {"title": "${Prénom}!", "description": "D"}})
    links = pl.read_parquet(plan_file(spec, tmp_path / "plan").out_dir / LINKS_FILE).sort("ref_list")
    assert links.select("target", "title").rows() == [("https://x.fr/1", "Ann!"), ("https://x.fr/0", "!")]


def test_url1_a_url_under_a_jinja_condition_is_linked_only_where_the_message_has_it(tmp_path):
    rows = "Mobile;VIP\n0611111111;oui\n0622222222;non\n"
    message = "{% if VIP == 'oui' %}https://x.fr/vip{% else %}https://x.fr/tous{% endif %} STOP 36184"
    _, recipients, links_path = _plan(tmp_path, message, {}, rows=rows)
    links = pl.read_parquet(links_path).sort("id_line")
    assert links.select("id_line", "link", "target").rows() == [(1, 1, "https://x.fr/vip"),
                                                                (2, 2, "https://x.fr/tous")]
    assert recipients.get_column("MESSAGE").to_list() == [f"{short} STOP 36184" for short in links["short_url"]]


def test_url2_a_fixed_part_with_accents_becomes_a_valid_uri(tmp_path):
    _, _, links_path = _plan(tmp_path, "https://x.fr/été?a=1&b=%20#top ${ID}", {},
                             rows="Mobile;ID\n0611111111;1\n")
    assert pl.read_parquet(links_path).get_column("target").to_list() == ["https://x.fr/%C3%A9t%C3%A9?a=1&b=%20#top"]


def test_url5_every_character_equally_likely():
    """Bytes modulo 62 without rejection would make the first 8 characters 25 % likelier (5/256 against 4/256)."""
    import numpy as np

    from pipelines.links.tokens import random_codes

    counts = np.bincount(random_codes(200_000, 9).ravel(), minlength=62)
    expected = 200_000 * 9 / 62  # 29,032 each; one standard deviation is about 170
    assert counts.size == 62 and np.abs(counts - expected).max() < 0.03 * expected
