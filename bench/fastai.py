"""The fast.ai course on the instance image: first and second ``selfmaker launch fastai`` to the ready mail,
and the disk each further fastai instance takes beyond the shared PyTorch environment.

    .venv/bin/python bench/fastai.py [--fresh-image DIR]

The host's image is used (its default environments, PyTorch included; built first if missing, not timed),
unless ``--fresh-image DIR`` names an empty directory: then the first launch builds the whole image there,
as a new host's first ever launch does. Needs root (instances run on the image only as root), network to
Debian's mirrors and PyPI (or the host's pip mirror), and a few GB of disk. Prints each launch against the
first one (a ratio, same run), and the disk per instance against the shared environment it uses.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ServerProcess, _stop_everything  # noqa: E402 - a real server, as the tests run it
from tests.smtp_sink import SmtpSink  # noqa: E402

VENV_BIN = Path(sys.executable).parent
LINK = re.compile(r"https?://\S+")


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", "--one-file-system", str(path)], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


def launch(server: ServerProcess, smtp: SmtpSink, name: str) -> float:
    """`selfmaker launch fastai` for a new student, confirming the subscription; seconds to the ready mail."""
    student = f"{name}@example.com"
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(VENV_BIN / "selfmaker"), "launch", "fastai", "--email", student, "--stack-name", f"{name}-stack",
         "--parameter", f"NotebookName={name}"],
        env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    confirmation = smtp.wait_for(student, "Subscription Confirmation", timeout=900)
    (link,) = LINK.findall(confirmation.get_body(("plain",)).get_content())
    httpx.get(link).raise_for_status()
    ready = smtp.wait_for(student, "Your fastai notebook is ready", timeout=1800)
    elapsed = time.monotonic() - started
    proc.communicate(timeout=60)
    body = ready.get_body(("plain",)).get_content()
    if "The fastai environment is installed" not in body:
        raise SystemExit(f"{name}: the setup failed:\n{body}")
    return elapsed


def newest_instance_disk(server: ServerProcess) -> tuple[int, int]:
    """Bytes of the newest instance's own: its volume's files and its writable layer over the image."""
    runs = [p for p in (server.data_dir / "run").iterdir() if (p / "scratch" / "upper").is_dir()]
    volumes = [p for p in (server.data_dir / "volumes").iterdir() if p.is_dir()]
    newest_run = max(runs, key=lambda p: p.stat().st_mtime)
    newest_volume = max(volumes, key=lambda p: p.stat().st_mtime)
    return du_bytes(newest_volume), du_bytes(newest_run / "scratch" / "upper")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh-image", type=Path, help="an empty directory to build the whole image in")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/fastai.py needs root: instances run on the instance image only as root")
    env = {"SELFMAKER_ENVIRONMENTS_FILE": ""}  # the default environments: python3 and pytorch_p310
    os.environ.pop("SELFMAKER_ENVIRONMENTS_FILE", None)
    if args.fresh_image:
        env["SELFMAKER_IMAGE_DIR"] = str(args.fresh_image.resolve())
    else:
        from selfmaker.runtime.local import LocalRuntime

        print("making sure the host's image is built (not timed)...", flush=True)
        LocalRuntime(Path(tempfile.mkdtemp())).ensure_image(lambda line: print("  " + line, flush=True))

    work = Path(tempfile.mkdtemp(prefix="selfmaker-bench-fastai-"))
    smtp = SmtpSink().start()
    server = ServerProcess(work / "data", work / "home", lifecycle_timeout=600,
                           extra_env={"SELFMAKER_SMTP_URL": smtp.url, **env}).start()
    try:
        first = launch(server, smtp, "fastai-one")
        print(f"first launch to the ready mail{' (image built too)' if args.fresh_image else ''}: {first:.1f} s",
              flush=True)
        second = launch(server, smtp, "fastai-two")
        volume, upper = newest_instance_disk(server)
        from selfmaker.runtime.image.store import ImageStore, image_dir

        store = ImageStore(Path(env.get("SELFMAKER_IMAGE_DIR") or image_dir()), "bwrap")
        _, envs, _, _ = store.plan(server.data_dir)
        shared = sum(du_bytes(path) for spec, path in envs if spec.name == "pytorch_p310")
        print(f"second launch: {second:.1f} s = {second / first:.2f}x the first (target: <= 30 s)")
        print(f"disk of the second instance: volume {volume / 1e6:.0f} MB + writable layer {upper / 1e6:.0f} MB "
              f"= {(volume + upper) / 1e6:.0f} MB, {(volume + upper) / max(shared, 1):.3f}x the shared "
              f"pytorch_p310 environment ({shared / 1e9:.2f} GB) (target: < 100 MB)")
    finally:
        _stop_everything(server)
        smtp.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
