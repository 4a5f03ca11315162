"""The local tektii platform: REST API server (WSGI, served by waitress), SQLite storage,
users and API keys, and daemon control for the CLI (tektii_platform.daemon).

Importing this package is cheap; the server and its dependencies load on demand."""

from tektii_core import __version__

__all__ = ["__version__"]
