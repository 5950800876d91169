"""Supervisor inside a notebook instance's sandbox: run the lifecycle scripts, then become Jupyter.

The runtime starts it as the sandbox's command, with `python -I -S sandbox_init.py CONFIG`, so it starts in
a few milliseconds and imports only the standard library. CONFIG (JSON, written by runtime/local.py) holds:

    scripts       [{"path": script inside the sandbox, "log": output file, "exit": exit-code file}, ...]
    script_env    environment of the scripts
    jupyter_argv  the Jupyter command line
    jupyter_env   its environment (JUPYTER_TOKEN is added from ours, so scripts never see it)
    jupyter_cwd   its working directory
    uid, gid      user Jupyter runs as; null when we already are that user
    sudo          null, or the sudo broker's orders: {"socket": path, "path": sudo's secure_path,
                  "uid": the one user it serves} (root only, RootAccess Enabled)

    services      [argv, ...]: daemons to start as root before the scripts (cron), each forking itself away
    started       file to create once Jupyter is started (``systemctl restart jupyter-server`` reads it)

The scripts run one after the other, as we are (root), with `bash`, in `/`. Their processes stay in this
sandbox, so what they leave running (`nohup cmd &`) lives on until the sandbox stops. Each exit code is
written to its exit file as soon as the script ends; the runtime watches those files. After a failed
script we exit, which ends the sandbox. Otherwise we become a small `sh` loop that runs Jupyter and
starts it again on SIGUSR1 (``systemctl restart jupyter-server``); when Jupyter ends by itself, so does
the loop, with its exit code, and the sandbox with it.

The sudo broker. bwrap sets no_new_privs, so the setuid /usr/bin/sudo cannot make ec2-user root. When
RootAccess is Enabled, we first fork a small root process that listens on a Unix socket in a root-owned
directory (/run is a fresh tmpfs); ec2-user's `sudo` (commands.py) connects, passes its stdin, stdout and
stderr (SCM_RIGHTS) and a JSON request, and gets back the command's exit status. Each connection is served
by a process of its own, so a bad request never reaches the listening one; the peer is checked with
SO_PEERCRED. The command runs in a session of its own, without a controlling terminal; the client forwards
SIGINT, SIGTERM and SIGHUP to its process group as single bytes on the connection.
"""

import contextlib
import json
import os
import pwd
import signal
import stat
import sys

# Runs Jupyter ("$@"), with what root put in /etc/profile.jupyter (as SageMaker's jupyter-server service
# does: AWS's samples export variables there); SIGUSR1 stops it and runs it again. `wait` returns early
# when the trap runs, so it waits until Jupyter is really gone before deciding.
SUPERVISOR = """
trap 'restart=1; kill -TERM "$pid" 2>/dev/null' USR1
while :; do
  restart=
  ( [ ! -r /etc/profile.jupyter ] || . /etc/profile.jupyter; exec "$@" ) &
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


def start_service(argv: list[str], env: dict[str, str]) -> None:
    try:
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ], setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
        os.waitpid(pid, 0)
    except OSError as exc:
        print(f"selfmaker: {argv[0]} did not start: {exc}", file=sys.stderr, flush=True)


def write_atomically(path: str, text: str) -> None:
    # The runtime polls for this file: it must never see it half written.
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


# --- the sudo broker ---

REQUEST_LIMIT = 1 << 20  # bytes of JSON in one request
REQUEST_TIMEOUT = 10.0  # seconds a client has to send it
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What sudo's env_reset keeps of the caller's environment (env_check's variables, roughly).
SUDO_KEPT = ("TERM", "LANG", "LANGUAGE", "TZ", "COLORTERM", "DISPLAY", "XAUTHORITY")
NOT_IN_SUDOERS = "{} is not in the sudoers file.  This incident will be reported."


def start_sudo_broker(conf: dict) -> None:
    """Listen on conf["socket"], then fork the broker (detached: a child of the sandbox's init)."""
    import socket  # only the broker needs it

    directory = os.path.dirname(conf["socket"])
    os.makedirs(directory, mode=0o755, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
        raise RuntimeError(f"{directory} is not root's directory")
    os.chmod(directory, 0o755)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(conf["socket"])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(conf["socket"])
    os.chmod(conf["socket"], 0o666)  # who may use it is decided by SO_PEERCRED
    listener.listen(16)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _serve(listener, conf)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    listener.close()  # listening before the scripts run: no client ever finds it missing


def _serve(listener, conf: dict) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the connections' processes reap themselves
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        try:
            pid = os.fork()
        except OSError:
            conn.close()
            continue
        if pid == 0:
            code = 1
            try:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _handle(conn, conf)
                code = 0
            except BaseException as exc:  # noqa: BLE001 - never let a request reach the listener
                with contextlib.suppress(BaseException):
                    print(f"sudo broker: {exc!r}", file=sys.stderr, flush=True)
            os._exit(code)
        conn.close()


def _reply(conn, **answer) -> None:
    with contextlib.suppress(OSError):  # the client is gone
        conn.sendall(json.dumps(answer).encode() + b"\n")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def _handle(conn, conf: dict) -> None:
    import socket
    import struct

    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, gid = struct.unpack("3i", creds)
    if uid != conf["uid"]:
        _reply(conn, error=NOT_IN_SUDOERS.format(_user_name(uid)))
        return
    conn.settimeout(REQUEST_TIMEOUT)
    fds: list[int] = []
    try:
        data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        while b"\n" not in data:
            if len(data) > REQUEST_LIMIT:
                raise ValueError("request too long")
            more = conn.recv(65536)
            if not more:
                raise ValueError("truncated request")
            data += more
        line, _, early = data.partition(b"\n")
        if len(fds) != 3:
            raise ValueError("a request comes with stdin, stdout and stderr")
        request = _request(json.loads(line))
    except (ValueError, OSError) as exc:  # TimeoutError is an OSError, JSON and Unicode errors ValueErrors
        for fd in fds:
            os.close(fd)
        _reply(conn, error=f"sudo: bad request to the sudo service: {exc}")
        return
    conn.settimeout(None)
    pid = os.fork()
    if pid == 0:
        _run(request, fds, conf, uid, gid)  # never returns
    for fd in fds:
        os.close(fd)
    _reply(conn, exit=_wait(conn, pid, early))


def _request(raw) -> dict:
    """The request, checked: nothing in it grants more than ec2-user's `ALL=(ALL) NOPASSWD:ALL`."""
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    request = {}
    for key, kind, default in (
        ("argv", list, []), ("user", str, "root"), ("login", bool, False), ("shell", bool, False),
        ("preserve_env", bool, False), ("set_home", bool, False), ("cwd", str, "/"), ("env", dict, {}),
        ("assign", dict, {}), ("umask", int, 0o022), ("shell_path", str, "/bin/bash"),
    ):
        value = raw.get(key, default)
        if type(value) is not kind:
            raise ValueError(f"{key} must be a {kind.__name__}")
        request[key] = value
    strings = [*request["argv"], *request["env"], *request["env"].values(), *request["assign"],
               *request["assign"].values()]
    if not all(isinstance(s, str) and "\0" not in s for s in strings):
        raise ValueError("strings only, without NUL")
    if any(not name or "=" in name for name in [*request["env"], *request["assign"]]):
        raise ValueError("bad variable name")
    if not request["argv"] and not (request["login"] or request["shell"]):
        raise ValueError("no command")
    request["umask"] &= 0o777
    return request


def _wait(conn, pid: int, early: bytes) -> int:
    """Wait for the command, forwarding the client's signals to its process group; its exit status."""
    import select

    def forward(chunk: bytes) -> None:
        for signum in chunk:
            if signum in FORWARDED:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signum)

    forward(early)
    pidfd = os.pidfd_open(pid)
    watched = [conn, pidfd]
    while True:
        ready, _, _ = select.select(watched, [], [])
        if pidfd in ready:
            break
        try:
            chunk = conn.recv(64)
        except OSError:
            chunk = b""
        if chunk:
            forward(chunk)
        else:  # the client died: the command is hung up on, as by a closed terminal
            forward(bytes([signal.SIGHUP]))
            watched = [pidfd]
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it


def _escaped(argv: list[str]) -> str:
    # sudo -i and -s: every character but alphanumerics, "_", "-" and "$" gets a backslash.
    return " ".join("".join(c if c.isalnum() or c in "_-$" else "\\" + c for c in arg) for arg in argv)


def _run(request: dict, fds: list[int], conf: dict, uid: int, gid: int) -> None:
    """In the forked child: become the target user and exec the command. Never returns."""
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGCHLD, signal.SIGTERM,
                       signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
    except BaseException:  # noqa: BLE001
        os._exit(1)
    try:
        _exec(request, conf, uid, gid)
    except BaseException as exc:  # noqa: BLE001
        with contextlib.suppress(BaseException):
            os.write(2, f"sudo: {exc}\n".encode())
    os._exit(1)


def _exec(request: dict, conf: dict, uid: int, gid: int) -> None:
    name = request["user"]
    try:
        user = pwd.getpwuid(int(name[1:])) if name.startswith("#") else pwd.getpwnam(name)
    except (KeyError, ValueError):
        raise RuntimeError(f"unknown user {name}") from None
    os.umask(request["umask"] | 0o022)
    os.initgroups(user.pw_name, user.pw_gid)
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    shell = user.pw_shell or "/bin/sh"
    if request["preserve_env"]:
        env = dict(request["env"])
    else:
        env = {k: v for k, v in request["env"].items() if k in SUDO_KEPT or k.startswith("LC_")}
    if not request["preserve_env"] or request["set_home"] or request["login"]:
        env["HOME"] = user.pw_dir
    env.update(USER=user.pw_name, LOGNAME=user.pw_name, MAIL=f"/var/mail/{user.pw_name}", PATH=conf["path"])
    if not request["preserve_env"] or request["login"]:
        env["SHELL"] = shell
    cwd = user.pw_dir if request["login"] else request["cwd"]
    try:
        os.chdir(cwd)
    except OSError as exc:
        os.write(2, f"sudo: unable to change directory to {cwd}: {exc.strerror}\n".encode())
    argv = request["argv"]
    if request["login"] or request["shell"]:
        path = shell if request["login"] else request["shell_path"]
        base = os.path.basename(path)
        args = (["-" + base] if request["login"] else [base]) + (["-c", _escaped(argv)] if argv else [])
        command = path + (" -c " + _escaped(argv) if argv else "")
    else:
        path = argv[0] if "/" in argv[0] else _which(argv[0], conf["path"])
        args = argv
        command = " ".join([path, *argv[1:]])
    env.update(SUDO_USER=_user_name(uid), SUDO_UID=str(uid), SUDO_GID=str(gid), SUDO_COMMAND=command)
    env.update(request["assign"])  # VAR=value on sudo's command line: ALL implies SETENV
    try:
        os.execve(path, args, env)
    except FileNotFoundError:
        raise RuntimeError(f"{argv[0] if argv else path}: command not found") from None
    except OSError as exc:
        raise RuntimeError(f"unable to execute {path}: {exc.strerror}") from None


def _which(name: str, path: str) -> str:
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"{name}: command not found")


def main(config_path: str) -> None:
    with open(config_path) as f:
        config = json.load(f)
    os.umask(0o022)
    if config.get("sudo") and config["uid"] is not None:
        start_sudo_broker(config["sudo"])
    for argv in config.get("services", []):  # daemons that fork into the background themselves (cron)
        start_service(argv, config["script_env"])
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
