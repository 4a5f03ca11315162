"""Built-in execution backends (where the platform runs scenarios); see docs/execution-backends.md."""
