# `source /home/ec2-user/anaconda3/bin/activate [NAME|PREFIX]`: what conda's activate does, for sh and bash.
_conda_root=/home/ec2-user/anaconda3
case "${1:-base}" in
  base) _conda_prefix=$_conda_root ;;
  */*) _conda_prefix=${1%/} ;;
  *) _conda_prefix=$_conda_root/envs/$1 ;;
esac
if [ ! -x "$_conda_prefix/bin/python" ]; then
  echo "EnvironmentNameNotFound: Could not find conda environment: ${1:-base}" >&2
  echo "You can list all discoverable environments with \`conda info --envs\`." >&2
  unset _conda_root _conda_prefix
  return 1 2>/dev/null || exit 1
fi
[ -z "${CONDA_PREFIX:-}" ] || . "$_conda_root/bin/deactivate"
case "${1:-base}" in
  */*) CONDA_DEFAULT_ENV=$_conda_prefix ;;
  *) CONDA_DEFAULT_ENV=${1:-base} ;;
esac
export CONDA_PREFIX="$_conda_prefix" CONDA_DEFAULT_ENV CONDA_SHLVL=1 CONDA_EXE="$_conda_root/bin/conda"
export CONDA_PYTHON_EXE="$_conda_root/bin/python" CONDA_PROMPT_MODIFIER="($CONDA_DEFAULT_ENV) "
export PATH="$_conda_prefix/bin:$PATH"
if [ -n "${PS1:-}" ]; then _CONDA_OLD_PS1=$PS1; PS1="$CONDA_PROMPT_MODIFIER$PS1"; fi
[ "$(command -v conda 2>/dev/null)" = conda ] || [ ! -f "$_conda_root/etc/profile.d/conda.sh" ] \
  || . "$_conda_root/etc/profile.d/conda.sh"
unset _conda_root _conda_prefix
hash -r 2>/dev/null || true
