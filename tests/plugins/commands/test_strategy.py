"""`tektii strategy create | list | get` end to end: the real entry point against a real platform."""

from __future__ import annotations

import json
import re

SPEC_FIELDS = ["Strategy ID", "Name", "Owner ID", "Created By", "Created At", "Updated At"]
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_prints_the_spec_table_on_a_terminal(user_cli):
    result = user_cli("strategy", "create", "--name", "my-strategy", tty=True)
    assert result.code == 0, result.err
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.out)  # colour codes are allowed on a terminal
    lines = out.splitlines()
    assert lines[0] == "✓ Strategy created successfully!"
    assert lines[1] == ""
    box = lines[2:]
    assert box[0].startswith("┌") and box[0].endswith("┐")
    assert re.fullmatch(r"│ Field +│ Value +│", box[1])
    assert box[2].startswith("├") and box[-1].startswith("└")
    rows = [re.fullmatch(r"│ (.+?) +│ (.+?) +│", line).groups() for line in box[3:-1]]
    assert [label for label, _ in rows] == SPEC_FIELDS
    values = dict(rows)
    assert values["Strategy ID"].startswith("strat_")
    assert values["Name"] == "my-strategy"
    assert values["Owner ID"].startswith("user_") and values["Created By"] == values["Owner ID"]
    assert RFC3339.match(values["Created At"]) and RFC3339.match(values["Updated At"])
    assert len({len(line) for line in box}) == 1  # every line of the box has the same width


def test_create_piped_is_plain_text_without_box_drawing(user_cli):
    result = user_cli("strategy", "create", "--name", "plain")
    assert result.code == 0, result.err
    assert result.out.startswith("✓ Strategy created successfully!\n\n")
    assert not set("┌┐└┘│─├┤┼") & set(result.out)
    assert "\x1b[" not in result.out
    fields = [line.split("  ")[0].strip() for line in result.out.splitlines()[3:]]
    assert fields == SPEC_FIELDS


def test_json_output_is_the_api_object(user_cli):
    created = user_cli("--output", "json", "strategy", "create", "--name", "json-one")
    assert created.code == 0, created.err
    data = json.loads(created.out)["data"]
    assert set(data) >= {"id", "name", "ownerId", "createdBy", "createdAt", "updatedAt"}
    listed = json.loads(user_cli("--output", "json", "strategy", "list").out)
    assert listed["data"]["strategies"][0]["id"] == data["id"] or data["id"] in {
        s["id"] for s in listed["data"]["strategies"]}
    got = json.loads(user_cli("strategy", "get", data["id"], "--output", "json").out)
    assert got == {"data": data}


def test_global_options_work_before_and_after_the_noun(user_cli):
    key = user_cli.env.pop("TEKTII_API_KEY")
    url = user_cli.env.pop("TEKTII_API_URL")
    before = user_cli("--api-url", url, "--api-key", key, "--output", "json", "strategy", "create", "--name", "b")
    after = user_cli("strategy", "create", "--name", "a", "--api-url", url, "--api-key", key, "--output", "json")
    middle = user_cli("strategy", "--output", "json", "list", "--api-key", key, "--api-url", url)
    assert before.code == after.code == middle.code == 0, (before.err, after.err, middle.err)
    names = {s["name"] for s in json.loads(middle.out)["data"]["strategies"]}
    assert {"a", "b"} <= names


def test_list_paginates_over_several_pages(user_cli):
    for i in range(7):
        assert user_cli("strategy", "create", "--name", f"s{i}").code == 0
    seen, cursor, pages = [], None, 0
    while True:
        args = ["--output", "json", "strategy", "list", "--limit", "3"] + (["--cursor", cursor] if cursor else [])
        page = json.loads(user_cli(*args).out)["data"]
        seen += [s["name"] for s in page["strategies"]]
        pages += 1
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert pages == 3
    assert sorted(seen) == [f"s{i}" for i in range(7)]
    table = user_cli("strategy", "list", "--limit", "3")
    assert "More: tektii strategy list --cursor " in table.out
    assert table.out.splitlines()[0].split() == ["Strategy", "ID", "Name", "Created", "At", "Updated", "At"]


def test_get_shows_the_record(user_cli):
    sid = json.loads(user_cli("--output", "json", "strategy", "create", "--name", "g").out)["data"]["id"]
    result = user_cli("strategy", "get", sid)
    assert result.code == 0
    assert f"Strategy ID  {sid}" in result.out


def test_unknown_id_is_one_error_line(user_cli):
    result = user_cli("strategy", "get", "strat_doesnotexist")
    assert result.code == 1
    assert result.err.startswith("Error: ") and "Traceback" not in result.err
    assert "not found" in result.err.lower()


def test_users_are_isolated(user_cli, platform_server):
    sid = json.loads(user_cli("--output", "json", "strategy", "create", "--name", "mine").out)["data"]["id"]
    other = {"TEKTII_API_KEY": platform_server.new_user("someone-else")}
    assert user_cli("strategy", "get", sid, env=other).code == 1
    theirs = json.loads(user_cli("--output", "json", "strategy", "list", env=other).out)["data"]["strategies"]
    assert sid not in {s["id"] for s in theirs}


def test_bad_key_is_one_error_line(user_cli):
    result = user_cli("strategy", "list", env={"TEKTII_API_KEY": "tk_not_a_real_key"})
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0].startswith("Error: ") and "Traceback" not in result.err
    assert any(line.startswith("Solution: ") for line in lines)


def test_unreachable_platform(cli):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        result = cli("strategy", "list", env={"TEKTII_API_URL": f"http://127.0.0.1:{port}", "TEKTII_API_KEY": "tk_x"})
    assert result.code == 1
    assert result.err.startswith("Error: Cannot reach the tektii platform at http://127.0.0.1:")
    assert "Traceback" not in result.err


def test_invalid_arguments_are_usage_errors(user_cli):
    for args in (["strategy", "list", "--limit", "0"], ["strategy", "list", "--limit", "x"], ["strategy", "create"],
                 ["--output", "yaml-nope", "strategy", "list"]):
        result = user_cli(*args)
        assert result.code == 2, args
        assert result.err.startswith("Error: "), result.err


def test_invalid_name_is_reported_by_the_platform(user_cli):
    result = user_cli("strategy", "create", "--name", "")
    assert result.code == 1
    assert result.err.startswith("Error: ") and "name" in result.err


def test_unknown_commands_suggest_the_closest(cli):
    result = cli("stratgy", "list")
    assert result.code == 2
    assert "did you mean 'strategy'?" in result.err
    result = cli("strategy", "lst")
    assert result.code == 2 and "did you mean 'list'?" in result.err


def test_traceback_only_with_vv(user_cli):
    result = user_cli("-vv", "strategy", "get", "strat_missing")
    assert result.code == 1 and "Traceback" in result.err and "HTTP GET" in result.err
    quiet = user_cli("strategy", "get", "strat_missing")
    assert "Traceback" not in quiet.err and "HTTP GET" not in quiet.err


def test_strategy_init_writes_a_template_project_and_refuses_to_overwrite(cli, tmp_path):
    target = tmp_path / "my-rsi"
    result = cli("strategy", "init", "rsi-momentum", str(target))
    assert result.code == 0, result.err
    assert result.out.startswith(f"✓ Wrote a rsi-momentum strategy project to {target}")
    for name in ("Dockerfile", "main.py", "requirements.txt", "README.md"):
        assert (target / name).is_file(), name
    assert "FROM python:3.11-slim" in (target / "Dockerfile").read_text()
    (target / "main.py").write_text("# my edits\n")
    again = cli("strategy", "init", "rsi-momentum", str(target))
    assert again.code == 1 and again.err.startswith("Error: Refusing to overwrite existing files")
    assert (target / "main.py").read_text() == "# my edits\n"
    forced = cli("strategy", "init", "rsi-momentum", str(target), "--force")
    assert forced.code == 0 and (target / "main.py").read_text() != "# my edits\n"
    assert cli("strategy", "init", "nope", str(tmp_path / "x")).err.startswith("Error: Unknown template 'nope'")
