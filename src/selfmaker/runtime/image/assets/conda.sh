# conda for sh and bash, as `conda init` sets it up on SageMaker: `conda activate NAME` and
# `conda deactivate` change this shell; everything else is bin/conda.
export CONDA_EXE=/home/ec2-user/anaconda3/bin/conda
conda() {
  case "${1:-}" in
    activate) shift; . /home/ec2-user/anaconda3/bin/activate "$@" ;;
    deactivate) shift; . /home/ec2-user/anaconda3/bin/deactivate ;;
    *) "$CONDA_EXE" "$@" ;;
  esac
}
