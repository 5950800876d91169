"""The instance-type catalogue: every type botocore's notebook enum has, with AWS's specs, and nothing else."""

from __future__ import annotations

import logging

import pytest

from selfmaker.domain.instance_types import InstanceType, build_catalogue, load_catalogue, offered_names
from selfmaker.protocol.models import operation_model

GPU_MODELS = {"NVIDIA K80", "NVIDIA V100", "NVIDIA T4", "NVIDIA A10G", "NVIDIA L4", "NVIDIA L40S", "NVIDIA A100",
              "NVIDIA H100", "NVIDIA H200", "NVIDIA B200", "NVIDIA RTX PRO 6000 Blackwell"}
NEURON_MODELS = {"AWS Inferentia", "AWS Inferentia2", "AWS Trainium"}


@pytest.fixture(scope="module")
def catalogue() -> dict[str, InstanceType]:
    return load_catalogue()


def test_offers_exactly_botocores_notebook_enum(catalogue):
    enum = operation_model("sagemaker", "CreateNotebookInstance").input_shape.members["InstanceType"].enum
    assert len(enum) > 100
    assert offered_names() == list(enum)
    assert set(catalogue) == set(enum)
    for name in ("ml.m5d.large", "ml.c6i.xlarge", "ml.g5.12xlarge", "ml.p3dn.24xlarge", "ml.inf1.xlarge",
                 "ml.trn1.2xlarge", "ml.t3.medium"):
        assert name in catalogue
    assert "ml.x9.mega" not in catalogue


def test_every_type_has_sane_specs(catalogue):
    for name, kind in catalogue.items():
        assert kind.name == name
        assert isinstance(kind.vcpus, int) and kind.vcpus >= 1, name
        assert kind.memory_gib > 0, name
        assert bool(kind.gpu_model) == (kind.gpus > 0), name
        assert bool(kind.accelerator_model) == (kind.accelerators > 0), name
        assert not (kind.gpus and kind.accelerators), name  # a Neuron chip is no CUDA GPU
        assert kind.gpu_model in GPU_MODELS | {""}, name
        assert kind.accelerator_model in NEURON_MODELS | {""}, name
        assert kind.price_per_hour is None or kind.price_per_hour > 0, name
        assert kind.pids > 0


def test_the_table_knows_every_type_of_this_botocore(catalogue):
    # With this botocore nothing needs estimating; a newer one may add types, offered with estimated specs.
    assert [name for name, kind in catalogue.items() if kind.estimated] == []


@pytest.mark.parametrize(("name", "vcpus", "memory", "gpus", "model"), [
    ("ml.g5.12xlarge", 48, 192, 4, "NVIDIA A10G"),
    ("ml.p3dn.24xlarge", 96, 768, 8, "NVIDIA V100"),
    ("ml.p5.48xlarge", 192, 2048, 8, "NVIDIA H100"),
    ("ml.p5en.48xlarge", 192, 2048, 8, "NVIDIA H200"),
    ("ml.p4d.24xlarge", 96, 1152, 8, "NVIDIA A100"),
    ("ml.g4dn.12xlarge", 48, 192, 4, "NVIDIA T4"),
    ("ml.g6e.xlarge", 4, 32, 1, "NVIDIA L40S"),
    ("ml.g6.48xlarge", 192, 768, 8, "NVIDIA L4"),
    ("ml.p2.16xlarge", 64, 732, 16, "NVIDIA K80"),
    ("ml.m5d.large", 2, 8, 0, ""),
    ("ml.c4.xlarge", 4, 7.5, 0, ""),
    ("ml.c6i.xlarge", 4, 8, 0, ""),
    ("ml.r7i.48xlarge", 192, 1536, 0, ""),
])
def test_specs_match_aws(catalogue, name, vcpus, memory, gpus, model):
    kind = catalogue[name]
    assert (kind.vcpus, kind.memory_gib, kind.gpus, kind.gpu_model) == (vcpus, memory, gpus, model)
    assert kind.accelerators == 0


@pytest.mark.parametrize(("name", "vcpus", "memory", "chips", "model"), [
    ("ml.inf1.xlarge", 4, 8, 1, "AWS Inferentia"),
    ("ml.inf1.24xlarge", 96, 192, 16, "AWS Inferentia"),
    ("ml.inf2.48xlarge", 192, 768, 12, "AWS Inferentia2"),
    ("ml.trn1.2xlarge", 8, 32, 1, "AWS Trainium"),
    ("ml.trn1n.32xlarge", 128, 512, 16, "AWS Trainium"),
])
def test_neuron_types_have_accelerators_not_gpus(catalogue, name, vcpus, memory, chips, model):
    kind = catalogue[name]
    assert (kind.vcpus, kind.memory_gib, kind.accelerators, kind.accelerator_model) == (vcpus, memory, chips, model)
    assert kind.gpus == 0 and kind.gpu_model == ""


def test_known_prices_and_unknown_ones(catalogue):
    assert catalogue["ml.t3.medium"].price_per_hour == 0.05
    assert catalogue["ml.g4dn.xlarge"].price_per_hour == 0.7364
    assert catalogue["ml.p3.2xlarge"].price_per_hour == 3.825
    assert catalogue["ml.m4.xlarge"].price_per_hour is None  # not known here: none rather than a guess


def test_types_outside_the_enum_are_not_offered():
    table = {"ml.t3.medium": InstanceType("ml.t3.medium", 2, 4, price_per_hour=0.05),
             "ml.gone.xlarge": InstanceType("ml.gone.xlarge", 4, 16)}
    assert list(build_catalogue(["ml.t3.medium"], table)) == ["ml.t3.medium"]


def test_a_new_size_of_a_known_family_scales_from_the_nearest_size():
    table = {kind.name: kind for kind in (
        InstanceType("ml.g6e.12xlarge", 48, 384, 4, "NVIDIA L40S"),
        InstanceType("ml.g6e.48xlarge", 192, 1536, 8, "NVIDIA L40S", price_per_hour=30.0),
        InstanceType("ml.m5.4xlarge", 16, 64),
    )}
    found = build_catalogue(["ml.g6e.96xlarge", "ml.g6e.2xlarge", "ml.m5.8xlarge"], table)
    assert found["ml.g6e.96xlarge"] == InstanceType("ml.g6e.96xlarge", 384, 3072, 16, "NVIDIA L40S", estimated=True)
    assert found["ml.g6e.2xlarge"] == InstanceType("ml.g6e.2xlarge", 8, 64, 1, "NVIDIA L40S", estimated=True)
    assert found["ml.m5.8xlarge"] == InstanceType("ml.m5.8xlarge", 32, 128, estimated=True)


def test_a_new_family_is_estimated_from_its_class_and_size():
    found = build_catalogue(["ml.r9.large", "ml.c9.4xlarge", "ml.q1.xlarge", "ml.g9.xlarge", "ml.p9.48xlarge",
                             "ml.inf3.xlarge", "ml.trn2.48xlarge"], {})
    assert found["ml.r9.large"] == InstanceType("ml.r9.large", 2, 16, estimated=True)
    assert found["ml.c9.4xlarge"] == InstanceType("ml.c9.4xlarge", 16, 32, estimated=True)
    assert found["ml.q1.xlarge"] == InstanceType("ml.q1.xlarge", 4, 16, estimated=True)
    assert found["ml.g9.xlarge"] == InstanceType("ml.g9.xlarge", 4, 16, 1, "NVIDIA", estimated=True)
    assert found["ml.p9.48xlarge"].gpus == 1 and found["ml.p9.48xlarge"].vcpus == 192
    assert found["ml.inf3.xlarge"] == InstanceType("ml.inf3.xlarge", 4, 16, accelerators=1,
                                                   accelerator_model="AWS Inferentia", estimated=True)
    assert found["ml.trn2.48xlarge"].accelerator_model == "AWS Trainium"
    assert all(kind.price_per_hour is None for kind in found.values())


def test_admin_override_changes_offered_types_only(tmp_path, caplog):
    (tmp_path / "instance-types.yaml").write_text(
        "ml.t3.medium: {memory_gib: 2, pids: 1024}\n"
        "ml.m5d.large: {price_per_hour: 0.136}\n"
        "ml.x9.mega: {vcpus: 1, memory_gib: 1}\n"
    )
    with caplog.at_level(logging.WARNING, logger="selfmaker.domain.instance_types"):
        catalogue = load_catalogue(tmp_path)
    medium = catalogue["ml.t3.medium"]
    assert (medium.vcpus, medium.memory_gib, medium.pids, medium.price_per_hour) == (2, 2, 1024, 0.05)
    assert catalogue["ml.m5d.large"].price_per_hour == 0.136
    assert "ml.x9.mega" not in catalogue
    assert "ml.x9.mega is not a notebook instance type" in caplog.text
    assert load_catalogue(tmp_path / "absent")["ml.t3.medium"].memory_gib == 4
