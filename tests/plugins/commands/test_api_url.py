"""A malformed platform address (`--api-url` or TEKTII_API_URL) is one `Error:` line naming
what is wrong, then the Solution line, and exit code 1; never a traceback."""

from __future__ import annotations

SOLUTION = ("Solution: Give the platform's address as http://HOST:PORT, e.g. --api-url http://127.0.0.1:8470 "
            "(or TEKTII_API_URL).")
MALFORMED = {
    "http://[bad": "Invalid IPv6 URL",
    "localhost:8470": "it must start with http:// or https://",
    "ftp://127.0.0.1": "it must start with http:// or https://",
    "http://127.0.0.1:99999": "Port out of range 0-65535",
    "http://127.0.0.1:x": "Port could not be cast to integer value as 'x'",
    "http://": "no host name",
    "http://127.0.0.1:8470/?a=1": "it cannot have a query or fragment",
}


def test_a_malformed_api_url_is_one_error_line_and_its_solution(cli):
    for url, problem in MALFORMED.items():
        for how in (["--api-url", url, "strategy", "list"], ["strategy", "get", "strat_x", "--api-url", url]):
            done = cli(*how, env={"TEKTII_API_KEY": "tk_test"})
            assert done.code == 1 and done.out == "", (url, done.out)
            assert done.err.splitlines() == [f"Error: Invalid API URL {url!r}: {problem}", SOLUTION], url
        from_env = cli("strategy", "list", env={"TEKTII_API_URL": url, "TEKTII_API_KEY": "tk_test"})
        assert (from_env.code, from_env.err.splitlines()) == (1, [f"Error: Invalid API URL {url!r}: {problem}", SOLUTION])
