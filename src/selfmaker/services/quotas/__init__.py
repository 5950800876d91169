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
start. RequestServiceQuotaIncrease records a PENDING request; the administrator decides it with
``selfmaker quota approve|deny``, and an approval applies the value to the account's quota in that region.

SageMaker checks the quotas (``limits.check_notebook_quotas``) when an instance would start running:
CreateNotebookInstance, StartNotebookInstance, and UpdateNotebookInstance to another type.
"""

from selfmaker.services.quotas.catalogue import QuotaBook, QuotaConfigError, load_quota_book
from selfmaker.services.quotas.limits import check_notebook_quotas
from selfmaker.services.quotas.provider import ServiceQuotasService

__all__ = ["QuotaBook", "QuotaConfigError", "ServiceQuotasService", "check_notebook_quotas", "load_quota_book"]
