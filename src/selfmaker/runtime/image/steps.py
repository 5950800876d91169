"""What every build step of the image does alike: run a tool with its progress shown, and pin packages to
the versions the server itself runs."""

from __future__ import annotations

import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable
from importlib import metadata


class ImageError(Exception):
    """The image could not be built; the message says why, with the tool's last words."""


def run_logged(argv: list[str], env: dict[str, str], progress: Callable[[str], None],
               shown: Callable[[str], bool], timeout_s: float, what: str) -> None:
    """Run a build step; lines for which ``shown`` is true go to ``progress``. ImageError with the step's
    last lines when it fails or outlives ``timeout_s``."""
    last: deque[str] = deque(maxlen=30)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, errors="replace", env=env) as proc:
        timer = threading.Timer(timeout_s, proc.kill)  # the output loop below blocks: a hung step is killed
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip()
                last.append(line)
                if shown(line):
                    progress("image: " + line[:200])
        finally:
            timer.cancel()
        code = proc.wait()
    if code != 0:
        late = " (killed: it took too long)" if not timer.is_alive() and code < 0 else ""
        raise ImageError(f"{what} failed{late}:\n" + "\n".join(last))


def server_pins(names: Iterable[str]) -> tuple[str, ...]:
    """``name==version`` as the server has them installed (just ``name`` where it has not)."""
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return tuple(pins)
