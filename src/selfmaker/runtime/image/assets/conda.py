#!/usr/bin/python3 -I
"""conda inside a Selfmaker notebook instance: the commands lifecycle scripts use, on venvs and pip.

conda's channels are not reachable from here, so packages come from PyPI: ``conda install numpy`` is
``pip install numpy`` in the environment; a package that only conda's channels have fails with a message
that says so. Environments are venvs of the image's Python (``python=3.N`` must be one it has).
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

ROOT = "/home/ec2-user/anaconda3"
VERSION = "24.5.0"
ENVIRONMENTS_TXT = os.path.expanduser("~/.conda/environments.txt")
# conda package names whose PyPI distribution is called otherwise
PYPI_NAMES = {
    "pytorch": "torch", "pytorch-cpu": "torch", "pytorch-gpu": "torch", "py-xgboost": "xgboost",
    "tensorflow-gpu": "tensorflow", "opencv": "opencv-python", "py-opencv": "opencv-python",
    "pytables": "tables", "msgpack-python": "msgpack", "pyqt": "PyQt5", "graphviz": "graphviz",
    "python-graphviz": "graphviz", "pillow-simd": "pillow", "libxgboost": "xgboost",
}
# conda packages with nothing to install from PyPI: the wheels carry them (CUDA) or pip needs none
COVERED = {"cudatoolkit", "cudnn", "cuda", "cuda-toolkit", "pytorch-cuda", "nccl", "mkl", "nomkl", "libgcc",
           "_libgcc_mutex", "pip", "setuptools", "wheel", "conda", "python_abi", "cpuonly", "blas"}
NOT_ON_PYPI = """
PackagesNotFoundError: The following packages are not available from current channels:

  - {packages}

Selfmaker's conda installs from PyPI: conda's channels (repo.anaconda.com, conda-forge) are not
reachable from notebook instances here. Look for the package on https://pypi.org under its PyPI name,
or install what it needs with apt-get (RootAccess) and pip.
"""


def fail(message, code=1):
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)


def prefixes():
    """Every environment conda knows: base, anaconda3/envs/*, and those made elsewhere with -p."""
    found = [ROOT] + sorted(p for p in glob.glob(ROOT + "/envs/*") if os.path.isfile(p + "/bin/python"))
    try:
        with open(ENVIRONMENTS_TXT) as f:
            found += [line.strip() for line in f if os.path.isfile(line.strip() + "/bin/python")]
    except OSError:
        pass
    return list(dict.fromkeys(found))


def env_name(prefix):
    if prefix == ROOT:
        return "base"
    return os.path.basename(prefix) if os.path.dirname(prefix) == ROOT + "/envs" else ""


def target(args):
    """The environment a command acts on: -n / -p, else the active one, else base."""
    if getattr(args, "prefix", None):
        return os.path.abspath(os.path.expanduser(args.prefix))
    if getattr(args, "name", None):
        return ROOT if args.name == "base" else (
            args.name if "/" in args.name else ROOT + "/envs/" + args.name)
    return os.environ.get("CONDA_PREFIX") or ROOT


def existing(prefix):
    if not os.path.isfile(prefix + "/bin/python"):
        fail(f"EnvironmentLocationNotFound: Not a conda environment: {prefix}")
    return prefix


def pip_requirement(spec):
    """conda's MatchSpec (``channel::name=1.2=build``) as pip's requirement, or None if nothing to install."""
    spec = spec.split("::")[-1].strip()
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec)
    if not match:
        fail(f"InvalidMatchSpec: Invalid spec '{spec}'")
    name, version = match[1].lower(), match[2].replace(" ", "")
    if name in COVERED:
        return None
    name = PYPI_NAMES.get(name, name)
    if version.startswith("=") and not version.startswith("=="):
        version = version[1:].split("=")[0]  # =1.2=build: the build string means nothing to pip
        version = "==" + version + ("" if version.endswith("*") else ".*") if version else ""
    return name + version


def python_for(specs):
    """The image's interpreter for ``python=3.N`` (or the default python3), and the other specs."""
    rest, wanted = [], None
    for spec in specs:
        match = re.fullmatch(r"python\s*(?:==?|>=|~=)?\s*([0-9.*]*)", spec.split("::")[-1])
        if match:
            wanted = match[1].rstrip(".*")
        else:
            rest.append(spec)
    if not wanted:
        return "/usr/bin/python3", rest
    minor = ".".join(wanted.split(".")[:2])
    path = f"/usr/bin/python{minor}"
    if os.path.isfile(path):
        return path, rest
    have = sorted({os.path.basename(p)[6:] for p in glob.glob("/usr/bin/python3.*") if re.search(r"\d$", p)})
    fail(NOT_ON_PYPI.format(packages=f"python={wanted}").rstrip()
         + f"\n\nThis image has Python {', '.join(have)}: ask for one of those (python={have[-1]}).")


def pip_install(prefix, specs, upgrade=False, quiet=False):
    requirements = [r for r in (pip_requirement(s) for s in specs) if r]
    if not requirements:
        return 0
    argv = [prefix + "/bin/python", "-m", "pip", "install", "--disable-pip-version-check"]
    argv += (["--upgrade"] if upgrade else []) + (["-q"] if quiet else []) + requirements
    result = subprocess.run(argv, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        missing = re.findall(r"No matching distribution found for (\S+)", result.stderr)
        if missing:
            fail(NOT_ON_PYPI.format(packages="\n  - ".join(missing)))
    return result.returncode


def remember(prefix):
    if os.path.dirname(prefix) == ROOT + "/envs":
        return
    os.makedirs(os.path.dirname(ENVIRONMENTS_TXT), exist_ok=True)
    with open(ENVIRONMENTS_TXT, "a") as f:
        f.write(prefix + "\n")


def create(args):
    prefix = target(args) if (args.name or args.prefix) else None
    if prefix is None:
        fail("CondaValueError: either -n NAME or -p PREFIX option required,\ntry \"conda create -h\" for more details")
    if os.path.exists(prefix + "/bin/python"):
        if not args.yes:
            fail(f"CondaValueError: prefix already exists: {prefix}")
        shutil.rmtree(prefix)
    if args.file:
        args.specs += read_spec_files(args.file)
    python, specs = python_for(args.specs)
    print(f"Creating environment {args.name or prefix} ({python}) ...", flush=True)
    if subprocess.run([python, "-m", "venv", prefix]).returncode != 0:
        fail(f"CondaError: could not create {prefix}")
    remember(prefix)
    code = pip_install(prefix, specs, quiet=args.quiet)
    if code == 0:
        name = args.name or prefix
        print(f"#\n# To activate this environment, use\n#\n#     $ conda activate {name}\n#\n"
              "# To deactivate an active environment, use\n#\n#     $ conda deactivate\n")
    return code


def read_spec_files(paths):
    specs = []
    for path in paths:
        with open(path) as f:
            specs += [line.strip() for line in f if line.strip() and not line.startswith(("#", "@"))]
    return specs


def install(args, upgrade=False):
    prefix = existing(target(args))
    if args.file:
        args.specs += read_spec_files(args.file)
    if any(re.fullmatch(r"python\b.*", s) for s in args.specs):
        args.specs = [s for s in args.specs if not re.fullmatch(r"python\b.*", s)]
        print("note: an environment's Python stays the one it was made with here.", file=sys.stderr)
    if upgrade and not args.specs:
        return 0  # `conda update --all`, `conda update conda`: nothing conda itself would change here
    return pip_install(prefix, args.specs, upgrade=upgrade, quiet=args.quiet)


def remove(args):
    prefix = target(args)
    if args.all:
        if prefix == ROOT:
            fail("CondaEnvironmentError: cannot remove root environment")
        shutil.rmtree(existing(prefix))
        return 0
    names = [pip_requirement(s) for s in args.specs]
    argv = [existing(prefix) + "/bin/python", "-m", "pip", "uninstall", "-y"]
    return subprocess.run(argv + [re.split(r"[<>=!~]", n)[0] for n in names if n]).returncode


def env_list(_args):
    active = os.environ.get("CONDA_PREFIX") or ROOT
    print("# conda environments:\n#")
    for prefix in prefixes():
        print(f"{env_name(prefix):<25}{'*' if prefix == active else ' '}  {prefix}")
    print()
    return 0


def env_create(args):
    """``conda env create -f environment.yml``: name, dependencies and their pip: list."""
    path = args.file[0] if args.file else "environment.yml"
    doc = load_yaml(path)
    specs = []
    for dep in doc.get("dependencies") or []:
        if isinstance(dep, dict):
            specs += [str(s) for s in dep.get("pip") or []]
        else:
            specs.append(str(dep))
    args.name = args.name or (None if args.prefix else doc.get("name"))
    args.specs, args.file = specs, None
    return create(args)


def load_yaml(path):
    try:
        from ruamel.yaml import YAML  # the image's (the AWS CLI's)
    except ImportError:
        fail("CondaError: reading environment files needs PyYAML or ruamel.yaml in /usr/bin/python3")
    with open(path) as f:
        return YAML(typ="safe").load(f) or {}


def run(args):
    prefix = existing(target(args))
    env = dict(os.environ, CONDA_PREFIX=prefix, PATH=prefix + "/bin:" + os.environ.get("PATH", ""))
    if not args.command:
        fail("CondaError: conda run requires a command")
    try:
        os.execvpe(args.command[0], args.command, env)
    except FileNotFoundError:
        fail(f"CondaError: {args.command[0]}: command not found", 127)


def list_packages(args):
    prefix = existing(target(args))
    result = subprocess.run([prefix + "/bin/python", "-m", "pip", "list", "--format=freeze",
                             "--disable-pip-version-check"], capture_output=True, text=True)
    print(f"# packages in environment at {prefix}:\n#\n# Name                    Version                   Channel")
    for line in result.stdout.splitlines():
        name, _, version = line.partition("==")
        print(f"{name:<26}{version:<26}pypi")
    return result.returncode


def shell_only(args):
    fail(f"CondaError: Run 'source {ROOT}/bin/{args.command}' or, after "
         f"'source {ROOT}/etc/profile.d/conda.sh', 'conda {args.command}': it changes the shell it runs in.")


def init(_args):
    line = f"[ -f {ROOT}/etc/profile.d/conda.sh ] && . {ROOT}/etc/profile.d/conda.sh\n"
    bashrc = os.path.expanduser("~/.bashrc")
    try:
        with open(bashrc) as f:
            if line in f.read():
                print("No action taken.")
                return 0
    except FileNotFoundError:
        pass
    with open(bashrc, "a") as f:
        f.write(line)
    print(f"modified      {bashrc}")
    return 0


def parser():
    top = argparse.ArgumentParser(prog="conda")
    top.add_argument("-V", "--version", action="version", version=f"conda {VERSION}")
    sub = top.add_subparsers(dest="command")

    def command(name, handler, *aliases, specs=True, where=True):
        p = sub.add_parser(name, aliases=list(aliases))
        p.set_defaults(handler=handler)
        if where:
            p.add_argument("-n", "--name")
            p.add_argument("-p", "--prefix")
        p.add_argument("-y", "--yes", action="store_true")
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("-c", "--channel", action="append", default=[])
        for flag in ("--override-channels", "--no-deps", "--all", "--force-reinstall", "--json",
                     "--no-update-deps", "--update-all", "--offline", "--freeze-installed"):
            p.add_argument(flag, action="store_true")
        p.add_argument("--file", action="append")
        if specs:
            p.add_argument("specs", nargs="*")
        return p

    command("create", create)
    command("install", install)
    command("update", lambda a: install(a, upgrade=True), "upgrade")
    command("remove", remove, "uninstall")
    command("list", list_packages, specs=False)
    p = sub.add_parser("info")
    p.add_argument("-e", "--envs", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lambda a: env_list(a) if a.envs else info())
    p = sub.add_parser("run")
    p.add_argument("-n", "--name")
    p.add_argument("-p", "--prefix")
    p.add_argument("--no-capture-output", "--live-stream", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(handler=run)
    for name in ("activate", "deactivate"):
        p = sub.add_parser(name)
        p.add_argument("rest", nargs="*")
        p.set_defaults(handler=shell_only)
    sub.add_parser("init").set_defaults(handler=init)
    env = sub.add_parser("env").add_subparsers(dest="env_command")
    env.add_parser("list").set_defaults(handler=env_list)
    p = env.add_parser("create")
    p.add_argument("-n", "--name")
    p.add_argument("-p", "--prefix")
    p.add_argument("-f", "--file", action="append")
    p.add_argument("-y", "--yes", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=env_create)
    p = env.add_parser("remove")
    p.add_argument("-n", "--name")
    p.add_argument("-p", "--prefix")
    p.add_argument("-y", "--yes", action="store_true")
    p.set_defaults(handler=lambda a: remove(argparse.Namespace(**vars(a), all=True, specs=[])))
    return top


def info():
    active = os.environ.get("CONDA_PREFIX") or ROOT
    print(f"     active environment : {os.environ.get('CONDA_DEFAULT_ENV') or env_name(active) or active}\n"
          f"    active env location : {active}\n"
          f"          conda version : {VERSION} (Selfmaker: venvs and PyPI)\n"
          f"       base environment : {ROOT}\n"
          f"           channel URLs : https://pypi.org/simple\n"
          f"       envs directories : {ROOT}/envs\n")
    return 0


def main():
    if sys.argv[1:2] and sys.argv[1] in ("config", "clean"):
        return 0  # channels and caches: nothing to configure or clean for PyPI here
    args = parser().parse_args()
    if not getattr(args, "handler", None):
        parser().print_help()
        return 0
    if getattr(args, "channel", None):
        print(f"note: channel {', '.join(args.channel)} ignored: packages come from PyPI here.", file=sys.stderr)
    return args.handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
