"""A real platform server (waitress on a real socket on 127.0.0.1) per test: the `api` fixture
and its `Api` helper live in tests/conftest.py and tektii_testkit, so that tests in other
folders use them too."""

from tektii_testkit import Api  # noqa: F401  (re-exported for test modules written before it moved)
