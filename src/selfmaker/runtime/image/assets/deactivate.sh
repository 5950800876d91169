# `source /home/ec2-user/anaconda3/bin/deactivate`: leave the active conda environment.
if [ -n "${CONDA_PREFIX:-}" ]; then
  PATH=$(printf '%s' ":$PATH:" | sed "s|:$CONDA_PREFIX/bin:|:|; s|^:||; s|:\$||")
  export PATH
  if [ -n "${_CONDA_OLD_PS1+x}" ]; then PS1=$_CONDA_OLD_PS1; unset _CONDA_OLD_PS1; fi
  unset CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_PROMPT_MODIFIER
  export CONDA_SHLVL=0
  hash -r 2>/dev/null || true
fi
