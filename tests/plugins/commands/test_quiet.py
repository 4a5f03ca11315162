"""`-q` prints results only (docs/cli.md): no progress lines, headlines or hints after the
results; without it the output stays the spec's, word for word."""

from __future__ import annotations

import json

HINT = "  Use this version ID when creating scenarios"


def _strategy(cli, name: str) -> str:
    return json.loads(cli("--output", "json", "strategy", "create", "--name", name).out)["data"]["id"]


def test_version_upload_quiet_prints_the_version_only(user_cli, tmp_path):
    sid = _strategy(user_cli, "quiet-upload")
    loud = user_cli("version", "upload", sid, "--template", "ma-crossover", "--git-sha", "abc1234", cwd=tmp_path)
    assert loud.code == 0, loud.err
    lines = loud.out.splitlines()
    version_id = lines[7].removeprefix("  Version ID: ")
    assert lines == ["Validating inputs...", "→ Detected version: abc1234", "Creating version in API...",
                     f"✓ Created version: {version_id}", "", "✓ Version uploaded successfully!", "",
                     f"  Version ID: {version_id}", "  Git SHA: abc1234", "  Image: template ma-crossover", "", HINT]

    quiet = user_cli("-q", "version", "upload", sid, "--template", "ma-crossover", "--git-sha", "abc1234", cwd=tmp_path)
    assert quiet.code == 0, quiet.err
    version_id = quiet.out.splitlines()[0].removeprefix("  Version ID: ")
    assert version_id.startswith("ver_")
    assert quiet.out == f"  Version ID: {version_id}\n  Git SHA: abc1234\n  Image: template ma-crossover\n"
    assert quiet.err == ""


def test_quiet_drops_headlines_and_hints_of_other_commands(user_cli, tmp_path):
    sid = _strategy(user_cli, "quiet-others")
    created = user_cli("-q", "strategy", "create", "--name", "quiet")
    assert created.code == 0 and "Strategy created" not in created.out
    assert created.out.splitlines()[0].split() == ["Field", "Value"]

    for sha in ("aaaaaaa", "bbbbbbb"):
        assert user_cli("-q", "version", "upload", sid, "--template", "rsi-momentum", "--git-sha", sha, cwd=tmp_path).code == 0
    loud = user_cli("version", "list", sid, "--limit", "1")
    assert loud.out.splitlines()[-1].startswith(f"More: tektii version list {sid} --cursor ")
    quiet = user_cli("-q", "version", "list", sid, "--limit", "1")
    assert quiet.out.splitlines() == loud.out.splitlines()[:-1] and "More:" not in quiet.out

    loud = user_cli("strategy", "init", "ma-crossover", str(tmp_path / "loud"))
    assert loud.code == 0, loud.err
    assert loud.out.startswith("✓ Wrote a ma-crossover strategy project") and "Next:" in loud.out
    quiet = user_cli("-q", "strategy", "init", "ma-crossover", str(tmp_path / "quiet"))
    assert quiet.code == 0, quiet.err
    assert quiet.out.splitlines()[0].strip() == "File" and "Next:" not in quiet.out and "✓" not in quiet.out
    assert quiet.out.count("\n") == loud.out.count("\n") - 7  # headline, blank, blank, Next:, three hints
