"""Commands a notebook instance has in place of its VM's: ``reboot``, the service managers' restart of
``jupyter-server`` (``systemctl``, ``initctl``, ``service``), and, in a sandbox with a single user, ``sudo``.

They are small shell scripts the runtime writes to the host-side ``sbin`` (mounted read-only at
``/usr/local/sbin``, first on every PATH) and ``bin`` directories. Lifecycle scripts written for SageMaker
end with ``systemctl restart jupyter-server`` (or ``initctl restart jupyter-server --no-wait`` on older
images): the supervisor (pid 2 of the sandbox, see ``sandbox_init``) restarts Jupyter on SIGUSR1 and the
instance stays InService. Before Jupyter first starts (the scripts run first) a restart has nothing to
do: Jupyter starts afterwards with whatever the scripts configured.

As root, ``sudo`` in ``sbin`` is the client of the sudo broker (see ``sandbox_init``): bwrap's no_new_privs
keeps the setuid /usr/bin/sudo from making ec2-user root. Run by root it execs the real sudo unchanged, so
``sudo -u ec2-user ...`` in lifecycle scripts is the real thing.
"""

from __future__ import annotations

JUPYTER_STARTED = "jupyter.started"  # in the control directory, once the supervisor runs Jupyter
SUPERVISOR_PID = 2  # inside the sandbox's pid namespace: bwrap is 1, the supervisor its child
SUDO_SOCKET = "/run/selfmaker/sudo.sock"  # the sudo broker's; /run is the sandbox's own tmpfs

_SUDO = """#!/bin/sh
# Stand-in for sudo in a sandbox with a single user: run the command as that user.
login=
while [ $# -gt 0 ]; do
  case "$1" in
    -u|-g|-C|-p|-D|-R|-T|-U) shift 2 ;;
    -i|--login|-s|--shell) login=1; shift ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [ -n "$login" ]; then
  cd "$HOME" || exit 1
  if [ $# -gt 0 ]; then exec bash -l -c "$*"; else exec bash -l; fi
fi
exec env "$@"
"""

_SUDO_USAGE = """usage: sudo -h | -K | -k | -V
usage: sudo -v [-ABkNnS] [-g group] [-h host] [-p prompt] [-u user]
usage: sudo -l [-ABkNnS] [-g group] [-h host] [-p prompt] [-U user] [-u user]
            [command [arg ...]]
usage: sudo [-ABbEHkNnPS] [-r role] [-t type] [-C num] [-D directory] [-g
            group] [-h host] [-p prompt] [-R directory] [-T timeout] [-u user]
            [VAR=value] [-i | -s] [command [arg ...]]
usage: sudo -e [-ABkNnS] [-r role] [-t type] [-C num] [-D directory] [-g group]
            [-h host] [-p prompt] [-R directory] [-T timeout] [-u user] file ...
"""

# {python}, {socket}, {enabled} are filled in; the braces of the code itself are doubled.
_SUDO_CLIENT = """#!{python} -IS
# sudo inside a notebook instance. Root gets the real sudo; other users ask the sandbox's sudo broker,
# which runs the command as root (or -u USER) with our stdin, stdout and stderr and tells its exit status.
import json, os, pwd, signal, socket, sys

REAL_SUDO = "/usr/bin/sudo"
SOCKET = {socket!r}
ENABLED = {enabled!r}
USAGE = {usage!r}


def usage(message=None):
    if message:
        sys.stderr.write("sudo: " + message + "\\n")
    sys.stderr.write(USAGE)
    sys.exit(1)


def fail(message):
    sys.stderr.write(message + "\\n")
    sys.exit(1)


def parse(args):
    request = dict(user="root", login=False, shell=False, preserve_env=False, set_home=False)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            flags = dict(login="login", shell="shell", set_home="set-home")
            if name == "user":
                if not eq:
                    i += 1
                    if i == len(args):
                        usage("option '--user' requires an argument")
                    value = args[i]
                request["user"] = value
            elif name == "preserve-env" and not eq:
                request["preserve_env"] = True
            elif name in ("login", "shell", "set-home"):
                request[name.replace("-", "_")] = True
            elif name != "non-interactive":
                usage("unrecognized option '" + arg + "'")
            i += 1
            continue
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            flag = arg[j]
            if flag == "u":
                value = arg[j + 1:]
                if not value:
                    i += 1
                    if i == len(args):
                        usage("option requires an argument -- 'u'")
                    value = args[i]
                request["user"] = value
                break
            named = dict(i="login", s="shell", E="preserve_env", H="set_home")
            if flag in named:
                request[named[flag]] = True
            elif flag not in "nk":  # -n, -k: no password is ever asked, none is remembered
                usage("invalid option -- '" + flag + "'")
            j += 1
        i += 1
    rest = args[i:]
    assign = {{}}
    while rest and "=" in rest[0] and not rest[0].startswith("=") and not rest[0].startswith("-"):
        name, _, value = rest.pop(0).partition("=")
        assign[name] = value
    if request["login"] and request["shell"]:
        usage("you may not specify both the -i and -s options")
    if not rest and not (request["login"] or request["shell"]):
        usage()
    request.update(argv=rest, assign=assign)
    return request


def main(args):
    uid = os.getuid()
    if uid == 0:
        try:
            os.execv(REAL_SUDO, ["sudo", *args])
        except OSError as err:
            fail("sudo: " + REAL_SUDO + ": " + err.strerror)
    if args in (["-k"], ["-K"]):  # forget a password: there is none to forget
        sys.exit(0)
    if args == ["-v"] and ENABLED:  # renew a password's time: no password is needed
        sys.exit(0)
    request = parse(args) if args != ["-v"] else None
    try:
        me = pwd.getpwuid(uid).pw_name
    except KeyError:
        me = "#" + str(uid)
    if not ENABLED:
        fail(me + " is not in the sudoers file.  This incident will be reported.")
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    umask = os.umask(0o022)
    os.umask(umask)
    request.update(cwd=cwd, umask=umask, env=dict(os.environ),
                   shell_path=os.environ.get("SHELL") or pwd.getpwuid(uid).pw_shell or "/bin/sh")
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.dup2(os.open(os.devnull, os.O_RDWR), fd)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(SOCKET)
    except OSError as err:
        fail("sudo: the sudo service of this instance does not answer: " + (err.strerror or str(err)))

    def forward(signum, frame):
        try:
            conn.send(bytes([signum]))
        except OSError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    data = json.dumps(request).encode() + b"\\n"
    try:
        sent = socket.send_fds(conn, [data], [0, 1, 2])
        conn.sendall(data[sent:])
    except OSError:
        pass  # refused before reading: the answer says why
    answer = b""
    while not answer.endswith(b"\\n"):
        try:
            chunk = conn.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            fail("sudo: lost the connection to the sudo service")
        answer += chunk
    answer = json.loads(answer)
    if "error" in answer:
        fail(answer["error"])
    sys.exit(answer["exit"])


main(sys.argv[1:])
"""


_REBOOT = """#!/bin/sh
# reboot, as on the instance's VM: every process ends and the notebook server starts again.
if [ "$(id -u)" != 0 ]; then echo "reboot: must be superuser." >&2; exit 1; fi
: > {ctl}/reboot
sync
kill -KILL -1
"""

# systemd's words and exit codes: 5 for a unit that does not exist, 3 for status of one not running.
_SERVICE = """#!/bin/sh
# {name} inside a notebook instance: the one service it runs is jupyter-server.
me=$(basename "$0")
verb= unit=
for arg do
  case "$arg" in
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$arg; elif [ -z "$unit" ]; then unit=$arg; fi ;;
  esac
done
if [ "$me" = service ]; then first=$verb; verb=$unit; unit=$first; fi  # service NAME VERB
unit=${{unit%.service}}
case "$verb" in
  daemon-reload|daemon-reexec) exit 0 ;;
  "") echo "$me: a command is needed (this instance runs one service: jupyter-server)" >&2; exit 1 ;;
esac
if [ "$unit" != jupyter-server ]; then
  echo "Failed to $verb $unit.service: Unit $unit.service not found." >&2
  exit 5
fi
started=
[ -e {ctl}/{started} ] && started=1
case "$verb" in
  status|is-active)
    echo "jupyter-server.service - Jupyter Server"
    if [ -n "$started" ]; then echo "   Active: active (running)"; exit 0; fi
    echo "   Active: inactive (starts after the lifecycle scripts)"
    exit 3 ;;
  restart|start|stop|reload|try-restart|reload-or-restart|force-reload) ;;
  *) echo "Unknown command verb $verb." >&2; exit 1 ;;
esac
{root_check}# Stop and start alike restart it: an InService instance always has its Jupyter.
[ -n "$started" ] && kill -USR1 {supervisor}
exit 0
"""

_ROOT_CHECK = """if [ "$(id -u)" != 0 ]; then
  echo "Failed to $verb $unit.service: Interactive authentication required." >&2
  exit 1
fi
"""


def shims(ctl_mount: str, *, as_root: bool, python: str = "/usr/bin/python3",
          root_access: bool = True) -> list[tuple[str, str, str]]:
    """(directory: "sbin" or "bin", name, script) for every command the sandbox gets.

    `python` runs the sudo client (as root: stdlib only, with -I -S); `root_access` is RootAccess Enabled.
    """
    found = [("sbin", "reboot", _REBOOT.format(ctl=ctl_mount))]
    for name in ("systemctl", "initctl", "service"):
        found.append(("sbin", name, _SERVICE.format(
            name=name, ctl=ctl_mount, started=JUPYTER_STARTED, supervisor=SUPERVISOR_PID,
            root_check=_ROOT_CHECK if as_root else "")))
    if as_root:
        found.append(("sbin", "sudo", _SUDO_CLIENT.format(
            python=python, socket=SUDO_SOCKET, enabled=root_access, usage=_SUDO_USAGE)))
    else:
        found.append(("bin", "sudo", _SUDO))
    return found
