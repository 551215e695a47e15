"""How the sandbox process is started, and which isolation layers that gives on this machine.

Three methods, strongest first; ``isolation=auto`` takes the first that starts and runs a program here:

- ``bwrap`` (bubblewrap): new user (when not root), PID, network, IPC, UTS and cgroup namespaces; a
  filesystem of its own: ``/usr``, the system library folders, a few files of ``/etc`` and the Python
  installation read-only, a private ``/tmp`` (tmpfs, size-capped), a new ``/proc`` and a minimal
  ``/dev``. The project folder, the home folder, checkpoints and ``/tmp`` of the host are not there.
- ``unshare`` (util-linux): PID, network, IPC and UTS namespaces (and a user namespace when not root),
  but the host's filesystem, read with the sandbox user's rights.
- ``none``: a plain child process: only the limits below and an empty environment.

Whatever the method: the environment is emptied (no W&B/HF tokens), limits are rlimits set per call
(CPU time, address space, processes, file size, open files) and the wall time is enforced by the
in-sandbox parent and again by the pool. Started as root, the sandbox drops to an unprivileged user of
its own (uid 200000 and up) before running anything: root would ignore the process limit and could
read every file.

The layers missing on this machine are logged once, as a warning, when the first pool starts.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

log = logging.getLogger(__name__)

METHODS = ("bwrap", "unshare", "none")

LAYERS = {
    "environment": "empty environment: no tokens or keys of the parent",
    "rlimits": "per-call limits on CPU time, memory, processes, file size and open files",
    "unprivileged": "runs as an unprivileged user, so the process limit holds and root-only files stay closed",
    "pid_namespace": "own PID namespace: no other process is visible or can be signalled; every leftover process of a call is killed",
    "network_namespace": "no network: a new namespace with only a loopback interface, down",
    "ipc_namespace": "own System V IPC and POSIX message queues",
    "filesystem": "private filesystem: system and Python folders read-only, a private size-capped /tmp; project, home and checkpoints invisible",
}

# What each method gives (the "unprivileged" layer also needs a non-root user or the drop from root).
METHOD_LAYERS = {
    "bwrap": ("environment", "rlimits", "unprivileged", "pid_namespace", "network_namespace", "ipc_namespace", "filesystem"),
    "unshare": ("environment", "rlimits", "unprivileged", "pid_namespace", "network_namespace", "ipc_namespace"),
    "none": ("environment", "rlimits", "unprivileged"),
}

SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}

ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
UID_BASE = 200000  # unprivileged users the sandbox drops to when started as root


@dataclass(frozen=True)
class Isolation:
    """A launch method and the layers it gives here."""

    method: str
    layers: Dict[str, bool] = field(default_factory=dict)

    @property
    def missing(self) -> List[str]:
        return [name for name, active in self.layers.items() if not active]

    def describe(self) -> str:
        active = ", ".join(n for n, a in self.layers.items() if a)
        return f"method={self.method}; active: {active}; missing: {', '.join(self.missing) or 'none'}"


def layers_of(method: str) -> Dict[str, bool]:
    layers = {name: name in METHOD_LAYERS[method] for name in LAYERS}
    if running_as_root() and sandbox_uid(method, 0) is None:
        layers["unprivileged"] = False
    return layers


def running_as_root() -> bool:
    return os.geteuid() == 0


def python_readable_by_others() -> bool:
    """Every folder above the Python installation lets other users through (else an unprivileged user
    could not import from it outside a bubblewrap sandbox, where the folders are re-created)."""
    for root in _python_roots():
        parts = Path(root).parts
        for i in range(2, len(parts) + 1):
            if not os.stat(Path(*parts[:i])).st_mode & 0o001:
                return False
    return True


def sandbox_uid(method: str, slot: int) -> Optional[Tuple[int, int]]:
    """(uid, gid) to drop to inside the sandbox when started as root: one user per pool slot and process,
    so slots do not share a process count. None when not root (the user's own uid is kept), or when the
    Python installation is closed to other users and the method does not re-create its folders."""
    if not running_as_root() or (method != "bwrap" and not python_readable_by_others()):
        return None
    uid = UID_BASE + (os.getpid() % 50000) * 64 + slot % 64
    return uid, uid


def _python_roots() -> List[str]:
    """Folders the interpreter and its packages live in (the venv, the base installation)."""
    roots = set()
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        roots.add(os.path.realpath(p))
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    keep = []
    for root in sorted(roots, key=len):  # drop roots inside another root
        if root in ("/", "") or any(root == k or root.startswith(k + "/") for k in keep):
            continue
        keep.append(root)
    return [r for r in keep if not any(r == s or r.startswith(s + "/") for s in ("/usr",))]


@functools.lru_cache(maxsize=1)
def _bwrap_has_size() -> bool:
    try:
        out = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--size" in out.stdout + out.stderr


def _bwrap_argv(limits_tmp_mb: int) -> List[str]:
    argv = ["bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    if running_as_root():
        # no user namespace: the sandbox keeps only what it needs to drop to its own unprivileged user
        argv += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-all", "--unshare-user"]  # a user namespace of its own: the process limit is per sandbox
        if _bwrap_supports("--disable-userns"):
            argv.append("--disable-userns")  # and no nested ones
    for key, value in SANDBOX_ENV.items():
        argv += ["--setenv", key, value]
    made = set()
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in ETC_FILES:
        argv += ["--ro-bind-try", path, path]
    # the private /tmp first: a Python installation inside /tmp (a venv of a checkout under /tmp) is bound on top of it
    if _bwrap_has_size():
        argv += ["--size", str(limits_tmp_mb * 1024 * 1024)]
    argv += ["--perms", "1777", "--tmpfs", "/tmp"]
    for root in _python_roots():
        parts = Path(root).parts
        for i in range(2, len(parts)):  # world-traversable parents (bwrap would copy a 0700 /root)
            parent = str(Path(*parts[:i]))
            if parent not in made and parent not in SYSTEM_DIRS and parent != "/tmp":
                made.add(parent)
                argv += ["--perms", "0755", "--dir", parent]
        argv += ["--ro-bind", root, root]
    argv += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp", "--"]
    return argv


@functools.lru_cache(maxsize=8)
def _bwrap_supports(option: str) -> bool:
    try:
        out = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return option in out.stdout + out.stderr


def _unshare_argv() -> List[str]:
    argv = ["unshare", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc"]
    if not running_as_root():
        argv.insert(1, "--user")
    return argv + ["--"]


def launch_argv(method: str, tmp_mb: int) -> List[str]:
    """The command that starts the in-sandbox Python (whose code follows on stdin via ``-c``)."""
    python = [sys.executable, "-I", "-c"]
    if method == "bwrap":
        return _bwrap_argv(tmp_mb) + python
    if method == "unshare":
        return _unshare_argv() + python
    if method == "none":
        return python
    raise ValueError(f"unknown sandbox isolation {method!r}; choose one of: auto, {', '.join(METHODS)}")


def available(method: str) -> bool:
    """The method's tool is installed (whether it works here is checked by starting it)."""
    return method == "none" or shutil.which(method) is not None


def candidates(preference: str) -> Sequence[str]:
    if preference == "auto":
        return METHODS
    if preference not in METHODS:
        raise ValueError(f"sandbox isolation={preference!r}; choose one of: auto, {', '.join(METHODS)}")
    return (preference,)


_warned: set = set()


def warn_once(isolation: Isolation, why_not: Dict[str, str]) -> None:
    """Say once per process, loudly, which layers are missing and why the stronger methods were not used."""
    key = isolation.method
    if key in _warned:
        return
    _warned.add(key)
    if not isolation.missing:
        log.info("python sandbox: %s", isolation.describe())
        return
    lines = [f"PYTHON SANDBOX IS WEAKER THAN IT SHOULD BE: {isolation.describe()}"]
    for name in isolation.missing:
        lines.append(f"  missing {name}: {LAYERS[name]}")
    for method, reason in why_not.items():
        lines.append(f"  {method} not used: {reason}")
    if "filesystem" in isolation.missing:
        lines.append("  model-written code can read every file this user can read; install bubblewrap (apt-get install bubblewrap)")
    log.warning("\n".join(lines))
