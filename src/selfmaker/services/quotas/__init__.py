"""Service Quotas for SageMaker notebook instances (``aws service-quotas …``, JSON 1.1, target prefix
``ServiceQuotasV20190624``, signing name ``servicequotas``).

Only the service code ``sagemaker`` ("Amazon SageMaker") has quotas here; any other answers
NoSuchResourceException, as AWS answers a code it does not know. Its quotas, per account and region:

- one per notebook instance type of the catalogue, "``<type>`` for notebook instance usage", with the code
  ``"L-" + the first 8 hex digits, uppercase, of sha256(<type>)`` (``ml.t3.medium`` → ``quota_code()``):
  stable across servers and releases, since it is the type's name alone;
- "Total number of notebook instances", code ``L-04CE2E67`` (AWS's own).

Defaults: 0 for GPU and accelerator types (as for a new AWS account), 20 for the others, 100 for the total;
``<data-dir>/quotas.yaml`` (``defaults: {ml.g4dn.xlarge: 2, total: 50}``) overrides them, read once at
start. The value answered and enforced is never more than this host can run: ``host GPUs // the type's GPUs``
instances (Neuron devices for Inferentia and Trainium types; ``capacity``).

RequestServiceQuotaIncrease records a PENDING request. The administrator takes it up (``selfmaker quota open``
or the console's "Open case": CASE_OPENED), then approves (applying the value to the account's quota in that
region, capped by the host), denies, or closes it without a decision (CASE_CLOSED); a PENDING request may be
decided or closed at once. Each change mails the requester (``notices``): its IAM user's ``email`` tag, else
the outbox.

Per-user limits (Selfmaker's own; AWS has none): ``per_user: {ml.g4dn.xlarge: 1, total: 2}`` in quotas.yaml
caps the running instances each creator (by ARN: IAM user, root, assumed role; a stack's calls carry its
creator's) may have, in every region. No AWS API answer shows them; the console and ``selfmaker quota list`` do.

SageMaker checks the quotas (``limits.check_notebook_quotas``) when an instance would start running:
CreateNotebookInstance, StartNotebookInstance, and UpdateNotebookInstance to another type; the per-user limits
against the caller's ARN (on Create, the creator's).
"""

from selfmaker.services.quotas.catalogue import QuotaBook, QuotaConfigError, load_quota_book
from selfmaker.services.quotas.limits import check_notebook_quotas
from selfmaker.services.quotas.provider import ServiceQuotasService

__all__ = ["QuotaBook", "QuotaConfigError", "ServiceQuotasService", "check_notebook_quotas", "load_quota_book"]
