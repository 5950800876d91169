#!/usr/bin/env bash
# Install what Selfmaker needs, idempotently: Debian packages (as root), then a venv in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v sudo >/dev/null || need_apt+=(sudo)
# Each instance's own network: namespaces (iproute2, util-linux) and user-mode NAT to the outside.
[ "$(id -u)" != 0 ] || command -v ip >/dev/null || need_apt+=(iproute2)
[ "$(id -u)" != 0 ] || command -v slirp4netns >/dev/null || need_apt+=(slirp4netns)
# Volumes of bounded size: ext4 images, loop-mounted.
command -v mkfs.ext4 >/dev/null || need_apt+=(e2fsprogs)
# The instance image (as root): a Debian root file system built from Debian's packages.
[ "$(id -u)" != 0 ] || command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
# Notebook instances live at <name>-<account>.notebook.<region>.localhost: browsers resolve *.localhost to
# loopback themselves, glibc's resolver (curl, httpx, the tests) only with nss-myhostname.
[ "$(id -u)" != 0 ] || dpkg-query -W -f='${Status}' libnss-myhostname 2>/dev/null | grep -q "ok installed" \
  || need_apt+=(libnss-myhostname)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi
# The package adds `myhostname` to the hosts line of nsswitch.conf; make sure it is there (after `files`).
if [ "$(id -u)" = 0 ] && [ -f /etc/nsswitch.conf ] && ! grep -Eq '^hosts:.*[[:space:]]myhostname([[:space:]]|$)' /etc/nsswitch.conf
then
  if grep -Eq '^hosts:.*[[:space:]]files([[:space:]]|$)' /etc/nsswitch.conf; then
    sed -i -E '/^hosts:/s/([[:space:]])files([[:space:]]|$)/\1files myhostname\2/' /etc/nsswitch.conf
  else
    sed -i -E '/^hosts:/s/$/ myhostname/' /etc/nsswitch.conf
  fi
  echo "setup: added myhostname to the hosts line of /etc/nsswitch.conf (for *.localhost)" >&2
fi

extras="${SELFMAKER_EXTRAS:-}"

# The browser tests (extras "test") drive Debian's Chromium through Playwright (never `playwright install`),
# with a CJK font so that Korean console pages render in screenshots; the store's tests run PostgreSQL, the Slurm
# runtime's tests a Slurm cluster. Missing them only skips those tests.
if [[ ",$extras," == *,test,* ]]; then
  need_apt=()
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed" || need_apt+=(fonts-noto-cjk)
  # The PostgreSQL store's tests start a private cluster of Debian's PostgreSQL (initdb, pg_ctl) themselves.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
  # The Slurm runtime's tests start a private single-node cluster (munged, slurmctld, slurmd: tests/slurm.py).
  for tool in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch; do
    [ -x "$tool" ] || { need_apt+=(slurm-wlm); break; }
  done
  [ -x /usr/sbin/munged ] || need_apt+=(munge)
  if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing ${need_apt[*]} (for the browser, PostgreSQL and Slurm tests)" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" >/dev/null
    else
      echo "setup: the browser, PostgreSQL and Slurm tests need ${need_apt[*]}" \
        "(e.g. sudo apt-get install ${need_apt[*]}); without them they are skipped" >&2
    fi
  fi
fi

stamp=".venv/.selfmaker-installed${extras:+-$extras}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
