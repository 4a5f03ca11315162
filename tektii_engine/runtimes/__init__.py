"""Helpers for the runtimes that start a strategy's code (see docs/runtimes.md).

``relay`` is the stdlib-only gateway relay run inside the sidecar container;
``relay_image`` builds its image; ``sandbox`` runs a strategy image isolated behind it.
Docker is imported lazily, inside the functions that need it.
"""
