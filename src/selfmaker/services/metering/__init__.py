"""Metering: what every notebook instance ran, when, and what it cost, from its state changes.

``recorder`` writes inside the transaction that changes a status; ``meter`` reads periods for Cost Explorer,
Budgets, the console and ``selfmaker usage``. Times come from ``selfmaker.clock.Clock`` (settable in test
mode), so usage over days is tested without waiting for them.
"""

from selfmaker.services.metering.meter import Meter, Period
from selfmaker.services.metering.recorder import record_owner, record_status, refresh_tags
from selfmaker.services.metering.report import DIMENSIONS, Amount, Bucket, tag_key, usage, usage_type

__all__ = ["DIMENSIONS", "Amount", "Bucket", "Meter", "Period", "record_owner", "record_status", "refresh_tags",
           "tag_key", "usage", "usage_type"]
