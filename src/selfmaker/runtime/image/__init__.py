"""The instance image: the root file system every notebook instance starts from, built once per host.

``rootfs`` builds a Debian system with mmdebstrap; ``environments`` builds SageMaker's conda layout on top
of it, one layer per environment; ``store`` keeps both (read-only, shared by every instance and every data
directory of the host) and hands the runtime the stack of layers an instance's overlay is made of.
"""
