"""Config and auth: precedence flag > environment > config file > keyring > credential helper,
secrets kept private, `auth status` naming the source, and the local platform on first use."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap

KEYRING_BACKEND = textwrap.dedent('''
    import json, os
    from keyring.backend import KeyringBackend

    class FileKeyring(KeyringBackend):
        """A real keyring backend (loaded by keyring through PYTHON_KEYRING_BACKEND) kept in a JSON file."""
        priority = 1

        def _load(self):
            try:
                with open(os.environ["TEST_KEYRING_FILE"]) as fh:
                    return json.load(fh)
            except FileNotFoundError:
                return {}

        def get_password(self, service, username):
            return self._load().get(f"{service}/{username}")

        def set_password(self, service, username, password):
            data = self._load()
            data[f"{service}/{username}"] = password
            with open(os.environ["TEST_KEYRING_FILE"], "w") as fh:
                json.dump(data, fh)

        def delete_password(self, service, username):
            data = self._load()
            data.pop(f"{service}/{username}", None)
            with open(os.environ["TEST_KEYRING_FILE"], "w") as fh:
                json.dump(data, fh)
''')


def key_source(cli, **env):
    result = cli("--output", "json", "auth", "status", env=env)
    assert result.code == 0, result.err
    return json.loads(result.out)["data"]["keySource"]


def test_login_stores_a_private_key_and_status_names_each_source(user_cli, platform_server, tmp_path):
    key = user_cli.env.pop("TEKTII_API_KEY")
    login = user_cli("auth", "login", "--with-key-stdin", input=key + "\n")
    assert login.code == 0, login.err
    assert login.out.startswith("✓ Logged in as tester (user_")
    credentials = user_cli.home / "config" / "credentials.ini"
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
    assert key in credentials.read_text()
    assert key_source(user_cli) == f"config file {credentials} [default]"
    other = platform_server.new_user("other")
    assert key_source(user_cli, TEKTII_API_KEY=other) == "environment variable TEKTII_API_KEY"
    flagged = user_cli("--output", "json", "auth", "status", "--api-key", key, env={"TEKTII_API_KEY": other})
    assert json.loads(flagged.out)["data"]["keySource"] == "--api-key flag"
    assert json.loads(flagged.out)["data"]["userName"] == "tester"
    assert user_cli("auth", "logout").code == 0
    assert key not in credentials.read_text()
    assert user_cli("auth", "status").err.startswith("Error: Not logged in")


def test_login_with_a_bad_key_stores_nothing(user_cli):
    user_cli.env.pop("TEKTII_API_KEY")
    result = user_cli("auth", "login", "--with-key-stdin", input="tk_wrong\n")
    assert result.code == 1 and result.err.startswith("Error: ")
    assert not (user_cli.home / "config" / "credentials.ini").exists()


def test_profiles_keep_separate_keys(user_cli, platform_server):
    key = user_cli.env.pop("TEKTII_API_KEY")
    other = platform_server.new_user("work-user")
    assert user_cli("auth", "login", "--with-key-stdin", input=key).code == 0
    assert user_cli("--profile", "work", "auth", "login", "--with-key-stdin", input=other).code == 0
    default = json.loads(user_cli("--output", "json", "auth", "status").out)["data"]
    work = json.loads(user_cli("--output", "json", "auth", "status", env={"TEKTII_PROFILE": "work"}).out)["data"]
    assert (default["userName"], work["userName"]) == ("tester", "work-user")


def test_keyring_is_used_after_the_config_file(user_cli, tmp_path):
    key = user_cli.env.pop("TEKTII_API_KEY")
    (tmp_path / "test_keyring_backend.py").write_text(KEYRING_BACKEND)
    store = tmp_path / "keyring.json"
    store.write_text(json.dumps({"tektii/default": key}))
    env = {"PYTHONPATH": str(tmp_path), "PYTHON_KEYRING_BACKEND": "test_keyring_backend.FileKeyring",
           "TEST_KEYRING_FILE": str(store)}
    assert key_source(user_cli, **env) == "system keyring (service 'tektii', profile 'default')"


def test_credential_helper(user_cli, tmp_path):
    key = user_cli.env.pop("TEKTII_API_KEY")
    helper = tmp_path / "sso-token"
    helper.write_text(f"#!{sys.executable}\nimport sys\nprint({key!r})\n")
    helper.chmod(0o755)
    assert user_cli("config", "set", "credential_helper", str(helper)).code == 0
    assert key_source(user_cli) == f"credential helper {str(helper)!r}"
    helper.write_text(f"#!{sys.executable}\nimport sys\nsys.exit('token expired, run sso login')\n")
    failing = user_cli("strategy", "list")
    assert failing.code == 1
    assert failing.err.splitlines()[0] == (f"Error: Credential helper {str(helper)!r} failed (exit 1): "
                                           "token expired, run sso login")


def test_config_set_get_list_and_validation(cli):
    assert cli("config", "set", "output", "json").code == 0
    got = json.loads(cli("config", "get", "output").out)["data"]  # the stored default applies
    assert got["value"] == "json" and got["source"].endswith("config.ini [default]")
    env_wins = json.loads(cli("--output", "json", "config", "get", "output", env={"TEKTII_OUTPUT": "csv"}).out)
    assert env_wins["data"]["source"] == "environment variable TEKTII_OUTPUT"
    bad = cli("config", "set", "outptu", "json")
    assert bad.code == 1 and "did you mean 'output'?" in bad.err.lower()
    assert cli("config", "set", "output", "nope").err.startswith("Error: Unknown output format 'nope'")
    assert cli("config", "set", "api_url", "ftp://x").code == 1
    assert cli("config", "unset", "output").code == 0
    assert "Key" in cli("config", "list").out


def test_local_platform_starts_on_first_use_and_platform_commands(cli):
    try:
        first = cli("--output", "json", "strategy", "create", "--name", "auto")
        assert first.code == 0, first.err
        assert "Starting the local tektii platform..." in first.err  # progress goes to stderr with json
        status = json.loads(cli("--output", "json", "platform", "status").out)["data"]
        assert status["running"] and status["url"].startswith("http://127.0.0.1:")
        source = key_source(cli)
        assert source.startswith("config file ") and "credentials.ini" in source
        up = cli("platform", "up")
        assert up.code == 0 and up.out.startswith(f"✓ Local platform running at {status['url']}")
        assert "auto" in cli("strategy", "list").out
    finally:
        down = cli("platform", "down")
    assert down.out.startswith("✓ Local platform stopped")
    assert json.loads(cli("--output", "json", "platform", "status").out)["data"]["running"] is False
