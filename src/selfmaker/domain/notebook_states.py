"""The notebook instance state machine, with SageMaker's states and its wording for wrong ones.

Create → Pending → InService | Failed;  Stop: InService → Stopping → Stopped;
Start: Stopped | Failed → Pending;  Update: Stopped → Updating → Stopped;
Delete: Stopped | Failed → Deleting → (gone).
"""

from __future__ import annotations

from selfmaker.services.base import validation_error

PENDING, IN_SERVICE, STOPPING, STOPPED, FAILED, DELETING, UPDATING = (
    "Pending", "InService", "Stopping", "Stopped", "Failed", "Deleting", "Updating",
)

# target state -> the states it may be entered from, in the order SageMaker lists them
_ENTERED_FROM: dict[str, tuple[str, ...]] = {
    PENDING: (STOPPED, FAILED),
    STOPPING: (IN_SERVICE,),
    UPDATING: (STOPPED,),
    DELETING: (STOPPED, FAILED),
}


def require_transition(status: str, target: str, arn: str) -> None:
    allowed = _ENTERED_FROM[target]
    if status not in allowed:
        raise validation_error(
            f"Status ({status}) not in ([{', '.join(allowed)}]). "
            f"Unable to transition to ({target}) for Notebook Instance ({arn})"
        )
