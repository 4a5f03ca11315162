"""The research tests' window on gym-anytrading's hourly EUR/USD: two weeks, with a holdout
from HOLDOUT on (the sweeps' in-sample part is START to HOLDOUT)."""

START, HOLDOUT, END = "2017-02-01T00:00:00Z", "2017-02-10T00:00:00Z", "2017-02-15T00:00:00Z"
