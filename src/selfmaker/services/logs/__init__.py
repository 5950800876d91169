"""CloudWatch Logs, as far as SageMaker notebook instances need it: groups, streams and events."""

from selfmaker.services.logs.provider import LogsService

__all__ = ["LogsService"]
