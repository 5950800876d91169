"""`selfmaker launch`: the fast.ai notebook in one command."""

from __future__ import annotations

import subprocess

from tests.conftest import VENV_BIN


def _launch(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "selfmaker"), "launch", *args], env=server.env, capture_output=True,
                          text=True, timeout=600)


def test_gpu_type_on_a_host_without_gpu_is_refused_before_anything_is_created(server):
    result = _launch(server, "fastai", "--instance-type", "ml.p3.2xlarge", "--stack-name", "gpu-refused")
    assert result.returncode == 1
    assert "ml.p3.2xlarge needs 1 GPU (NVIDIA V100), but this host has 0" in result.stderr
    stacks = server.aws_json("cloudformation", "list-stacks")["StackSummaries"]
    assert "gpu-refused" not in [stack["StackName"] for stack in stacks]


def test_unknown_bundled_template_names_the_bundled_ones(server):
    result = _launch(server, "nonesuch")
    assert result.returncode == 1
    assert "No bundled template 'nonesuch'. Bundled: fastai" in result.stderr
