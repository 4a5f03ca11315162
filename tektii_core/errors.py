"""The one exception type for problems a user can cause or fix (no imports: used everywhere)."""


class TektiiError(Exception):
    """Printed by the CLI as one `Error: <message>` line (plus `Solution: <hint>`), exit 1."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 1):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
