"""AWS Cost Explorer (botocore ``ce``, target ``AWSInsightsIndexService``) over Selfmaker's meter."""

from selfmaker.services.ce.provider import CostExplorerService

__all__ = ["CostExplorerService"]
