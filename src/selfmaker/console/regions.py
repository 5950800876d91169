"""The regions a reader can pick: AWS's commercial regions, as botocore names them."""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader


@cache
def regions() -> dict[str, str]:
    """Region code → English name (``ap-northeast-2`` → ``Asia Pacific (Seoul)``), in code order."""
    for partition in Loader().load_data("endpoints")["partitions"]:
        if partition["partition"] == "aws":
            return {code: info["description"] for code, info in sorted(partition["regions"].items())}
    return {}
