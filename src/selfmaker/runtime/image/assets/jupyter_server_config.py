# Jupyter in a Selfmaker notebook instance, as on SageMaker (system config of JupyterSystemEnv; the
# user's ~/.jupyter/jupyter_server_config.py and jupyter_notebook_config.py come after and win).
import os

c = get_config()  # noqa: F821 - traitlets provides it
c.KernelSpecManager.ensure_native_kernel = False  # only the conda_* kernels, as SageMaker lists them
if os.path.isdir("/usr/local/share/jupyter/kernels/conda_python3"):
    c.MultiKernelManager.default_kernel_name = "conda_python3"

# Lifecycle scripts written for SageMaker's older images configure NotebookApp in
# jupyter_notebook_config.py: the same settings reach the ServerApp here.
_notebook_config = os.path.expanduser("~/.jupyter/jupyter_notebook_config.py")
if os.path.isfile(_notebook_config):
    load_subconfig(_notebook_config)  # noqa: F821
    for _key, _value in dict(c.NotebookApp).items():
        c.ServerApp[_key] = _value
