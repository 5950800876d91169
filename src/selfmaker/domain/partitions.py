"""AWS partitions: which one a region belongs to (``aws``, ``aws-cn``, ``aws-us-gov`` …), as botocore's
endpoint data says, and ARNs moved between them.

Every ARN Selfmaker hands out names the partition of the region it was asked in, as AWS's do
(``arn:aws-cn:sns:cn-north-1:…``). Selfmaker keeps one account across all of them, so an IAM name made in
one partition is found from another: lookups compare ARNs without their partition (``same_resource``).
"""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader

DEFAULT = "aws"


@cache
def _regions() -> dict[str, str]:
    return {region: partition["partition"] for partition in Loader().load_data("endpoints")["partitions"]
            for region in partition["regions"]}


def known_regions() -> frozenset[str]:
    """Every region of every partition: the regions this server serves."""
    return frozenset(_regions())


def partition_of(region: str) -> str:
    """The partition of a region; global services' pseudo-region ``aws-global`` and unknown ones are ``aws``."""
    return _regions().get(region, DEFAULT)


def in_partition(arn: str, partition: str) -> str:
    """``arn`` with its partition replaced (anything that is not an ARN is given back as it is)."""
    prefix, sep, rest = arn.partition(":")
    if prefix != "arn" or not sep:
        return arn
    _old, sep, rest = rest.partition(":")
    return f"arn:{partition}:{rest}" if sep else arn


def same_resource(left: str, right: str) -> bool:
    """Whether two ARNs name the same thing, whatever their partitions."""
    return in_partition(left, DEFAULT) == in_partition(right, DEFAULT)
