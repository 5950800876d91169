"""Commands a notebook instance has in place of its VM's: ``reboot``, the service managers' restart of
``jupyter-server`` (``systemctl``, ``initctl``, ``service``), and, in a sandbox with a single user, ``sudo``.

They are small shell scripts the runtime writes to the host-side ``sbin`` (mounted read-only at
``/usr/local/sbin``, first on every PATH) and ``bin`` directories. Lifecycle scripts written for SageMaker
end with ``systemctl restart jupyter-server`` (or ``initctl restart jupyter-server --no-wait`` on older
images): the supervisor (pid 2 of the sandbox, see ``sandbox_init``) restarts Jupyter on SIGUSR1 and the
instance stays InService. Before Jupyter first starts (the scripts run first) a restart has nothing to
do: Jupyter starts afterwards with whatever the scripts configured.
"""

from __future__ import annotations

JUPYTER_STARTED = "jupyter.started"  # in the control directory, once the supervisor runs Jupyter
SUPERVISOR_PID = 2  # inside the sandbox's pid namespace: bwrap is 1, the supervisor its child

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


def shims(ctl_mount: str, *, as_root: bool) -> list[tuple[str, str, str]]:
    """(directory: "sbin" or "bin", name, script) for every command the sandbox gets."""
    found = [("sbin", "reboot", _REBOOT.format(ctl=ctl_mount))]
    for name in ("systemctl", "initctl", "service"):
        found.append(("sbin", name, _SERVICE.format(
            name=name, ctl=ctl_mount, started=JUPYTER_STARTED, supervisor=SUPERVISOR_PID,
            root_check=_ROOT_CHECK if as_root else "")))
    if not as_root:
        found.append(("bin", "sudo", _SUDO))
    return found
