"""Issue 10: every `smsflow …` line the README shows names a real command and real options (the walkthrough itself
runs in tests/e2e/test_readme.py)."""

from __future__ import annotations

import typer
from readme import README, command_lines, section

from pipelines.cli import app


def _is_group(command) -> bool:
    return hasattr(command, "commands")  # typer vendors its own click: groups are known by their subcommands


def _resolve(words: list[str]):
    """The command a line names, the path to it and the words left for it (options and arguments)."""
    command = typer.main.get_command(app)
    path: list[str] = []
    while _is_group(command) and words and not words[0].startswith("-"):
        sub = command.commands.get(words[0])
        if sub is None:
            raise AssertionError(f"README shows `smsflow {' '.join(path + words)}`: no command "
                                 f"{words[0]!r} under `smsflow {' '.join(path)}`".replace("  ", " "))
        path.append(words[0])
        command, words = sub, words[1:]
    return command, path, words


def test_house_every_smsflow_line_in_the_readme_names_a_real_command_and_real_options():
    lines = command_lines(README.read_text(encoding="utf-8"))
    assert len(lines) > 20, "the README's command lines were not found: has its layout changed?"
    for words in lines:
        command, path, rest = _resolve(list(words))
        if _is_group(command):  # a group named in the text (`smsflow campaigns`): nothing more to check
            assert not rest, f"README shows `smsflow {' '.join(words)}`: no such command in the group"
            continue
        known = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
        for word in rest:
            if word.startswith("--"):
                option = word.split("=", 1)[0]
                assert option in known, (f"README shows `smsflow {' '.join(words)}`: `smsflow {' '.join(path)}` "
                                         f"has no option {option} (it has {', '.join(sorted(known))})")


def test_house_the_readme_walkthrough_writes_every_file_it_uses():
    from readme import file_blocks, script

    text = section("Run a campaign of your own")
    files = file_blocks(text)
    assert any(path.endswith((".yaml", ".yml")) for path in files), "the walkthrough shows no spec file to write"
    commands = script(text)
    for path in files:
        assert path in commands, f"the walkthrough writes {path} but no command uses it"
