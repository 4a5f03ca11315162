"""The scenario tests' helpers live in tektii_testkit (ServedPlatform, served, SPEC_CONFIG, ...).

Re-exported here only for test modules written before they moved; import them from tektii_testkit.
"""

from tektii_testkit import FINISHED, SPEC_CONFIG, ServedPlatform, alive, children, served, with_version  # noqa: F401
