"""Started as root by the process runtime: drop to an unprivileged user, limit, exec the strategy.

``python -I strategy_launcher.py SPEC_JSON`` (standard library only: it runs before anything
else is importable). SPEC_JSON holds ``uid``, ``gid``, ``workdir``, ``argv``, ``env`` (the
strategy's whole environment), ``limits`` (resource name -> value) and ``expose``:
``{hidden_dir: [paths under it]}`` for directories other users cannot traverse (e.g. ``/root``
when the interpreter lives under it). For those, the launcher enters a mount namespace of its
own, covers each hidden directory with an empty tmpfs and mounts back only the listed paths,
so the strategy can run the interpreter without seeing anything else there.
"""

import ctypes
import json
import os
import resource
import signal
import sys
import tempfile

CLONE_NEWNS = 0x00020000
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV = 4096, 8192, 16384, 1 << 18, 2, 4
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags: int, data=None) -> None:
    def enc(value):
        return None if value is None else str(value).encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def expose(hidden: dict) -> None:
    """Cover every hidden directory with a tmpfs holding only the listed paths."""
    previous = os.umask(0o022)  # the directories leading to the exposed paths must be traversable
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    staging = tempfile.mkdtemp(prefix="tektii-expose-")
    for index, (directory, paths) in enumerate(sorted(hidden.items())):
        staged = []
        for number, path in enumerate(paths):
            target = os.path.join(staging, f"{index}-{number}")
            os.mkdir(target)
            _mount(path, target, None, MS_BIND | MS_REC)
            staged.append((target, path))
        _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for target, path in staged:
            os.makedirs(path, mode=0o755, exist_ok=True)
            _mount(target, path, None, MS_MOVE)
            os.rmdir(target)
    os.rmdir(staging)
    os.umask(previous)


def main() -> None:
    parent = os.getppid()
    spec = json.loads(sys.argv[1])
    if spec.get("expose"):
        expose(spec["expose"])
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    # The strategy dies with the worker that started it (a killed worker cannot stop it). Set
    # after the uid change, which clears it; a parent already gone is seen by the pid check.
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if os.getppid() != parent:
        sys.exit("tektii: the worker that started this strategy is gone")
    for name, value in spec["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    os.chdir(spec["workdir"])
    argv = spec["argv"]
    os.execve(argv[0], argv, spec["env"])


if __name__ == "__main__":
    main()
