"""CloudFormation: stacks from templates, through the same providers as the API."""

from selfmaker.services.cloudformation.provider import CloudFormationService

__all__ = ["CloudFormationService"]
