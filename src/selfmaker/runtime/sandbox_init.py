"""Supervisor inside a notebook instance's sandbox: run the lifecycle scripts, then become Jupyter.

The runtime starts it as the sandbox's command, with `python -I -S sandbox_init.py CONFIG`, so it starts in
a few milliseconds and imports only the standard library. CONFIG (JSON, written by runtime/local.py) holds:

    scripts       [{"path": script inside the sandbox, "log": output file, "exit": exit-code file}, ...]
    script_env    environment of the scripts
    jupyter_argv  the Jupyter command line
    jupyter_env   its environment (JUPYTER_TOKEN is added from ours, so scripts never see it)
    jupyter_cwd   its working directory
    uid, gid      user Jupyter runs as; null when we already are that user

    started       file to create once Jupyter is started (``systemctl restart jupyter-server`` reads it)

The scripts run one after the other, as we are (root), with `bash`, in `/`. Their processes stay in this
sandbox, so what they leave running (`nohup cmd &`) lives on until the sandbox stops. Each exit code is
written to its exit file as soon as the script ends; the runtime watches those files. After a failed
script we exit, which ends the sandbox. Otherwise we become a small `sh` loop that runs Jupyter and
starts it again on SIGUSR1 (``systemctl restart jupyter-server``); when Jupyter ends by itself, so does
the loop, with its exit code, and the sandbox with it.
"""

import json
import os
import signal
import sys

# Runs Jupyter ("$@"); SIGUSR1 stops it and runs it again. `wait` returns early when the trap runs, so
# it waits until Jupyter is really gone before deciding.
SUPERVISOR = """
trap 'restart=1; kill -TERM "$pid" 2>/dev/null' USR1
while :; do
  restart=
  "$@" &
  pid=$!
  while :; do
    wait "$pid"
    code=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  [ -n "$restart" ] || exit "$code"
done
"""


def run_script(script: dict, env: dict[str, str]) -> int:
    out = (os.POSIX_SPAWN_OPEN, 1, script["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    pid = os.posix_spawn(
        "/bin/bash",
        ["bash", script["path"]],
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            out,
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores them; scripts expect the defaults
    )
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by a signal: report it as bash would


def write_atomically(path: str, text: str) -> None:
    # The runtime polls for this file: it must never see it half written.
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(config_path: str) -> None:
    with open(config_path) as f:
        config = json.load(f)
    os.umask(0o022)
    for script in config["scripts"]:
        code = run_script(script, config["script_env"])
        write_atomically(script["exit"], str(code))
        if code != 0:
            sys.exit(code)

    env = {**config["jupyter_env"], "JUPYTER_TOKEN": os.environ["JUPYTER_TOKEN"]}
    open(config["started"], "w").close()  # still as root: the control directory is root's
    if config["uid"] is not None:
        os.setgroups([config["gid"]])
        os.setgid(config["gid"])
        os.setuid(config["uid"])
    os.chdir(config["jupyter_cwd"])
    argv = config["jupyter_argv"]
    os.execve("/bin/sh", ["sh", "-c", SUPERVISOR, "jupyter-server", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1])
