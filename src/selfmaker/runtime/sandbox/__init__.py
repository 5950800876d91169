"""The pieces every runtime builds a sandbox from: limits, disks, file system, network."""
