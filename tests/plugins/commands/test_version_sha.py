"""A Git SHA is never cut (issue 9): a timestamp fallback like ts-1796161118 and a 40-character
SHA show whole in `version list` (table and CSV), `version get` and `version tree`."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess

import pytest
import requests

STAMP = "ts-1796161118"  # longer than the 12 characters the table used to keep


def test_long_git_shas_show_whole(user_cli, tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    sid = json.loads(user_cli("--output", "json", "strategy", "create", "--name", "shas").out)["data"]["id"]
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "README").write_text("x\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    full = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert len(full) == 40

    def upload(*args: str, cwd) -> str:
        done = user_cli("--output", "json", "version", "upload", sid, "--template", "ma-crossover", *args, cwd=cwd)
        assert done.code == 0, done.err
        return json.loads(done.out)["data"]["id"]

    by_stamp = upload("--git-sha", STAMP, cwd=tmp_path)
    by_git = upload(cwd=repo)  # detected from the repository: the full SHA is stored
    # An image version whose upload is under way: the tree shows its SHA (a template's shows its name).
    other = "0123456789abcdef0123456789abcdef01234567"
    pending = requests.post(f"{user_cli.env['TEKTII_API_URL']}/v1/strategies/{sid}/versions", json={"gitSha": other},
                            headers={"X-API-Key": user_cli.env["TEKTII_API_KEY"]}, timeout=30)
    assert pending.status_code == 201, pending.text
    image_version = pending.json()["data"]["id"]
    expected = {by_stamp: STAMP, by_git: full, image_version: other}

    table = user_cli("version", "list", sid)
    assert table.code == 0, table.err
    shown = {line.split()[0]: line.split()[1] for line in table.out.splitlines()[1:]}
    assert shown == expected

    rows = list(csv.DictReader(io.StringIO(user_cli("--output", "csv", "version", "list", sid).out)))
    assert {row["Version ID"]: row["Git SHA"] for row in rows} == expected

    for version_id, sha in expected.items():
        record = user_cli("version", "get", sid, version_id).out
        assert ["Git", "SHA", sha] in [line.split() for line in record.splitlines()], record

    tree = user_cli("version", "tree", sid).out
    assert any(line.startswith(f"{image_version}  {other}  PENDING  ") for line in tree.splitlines()), tree
    nodes = json.loads(user_cli("--output", "json", "version", "tree", sid).out)["data"]["versions"]
    assert {n["id"]: n["gitSha"] for n in nodes} == expected
