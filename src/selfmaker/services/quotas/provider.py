"""The Service Quotas operations, for the one service whose quotas Selfmaker keeps: SageMaker's notebooks.

Values are the account's, capped by what this host's GPUs and Neuron devices can run (``capacity``); the
per-user limits of quotas.yaml are Selfmaker's own and appear in no answer here (the console and
``selfmaker quota list`` show them)."""

from __future__ import annotations

import json
import secrets
import time

from sqlalchemy import Engine, Row, insert, select

from selfmaker.mail import Mailer
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.quotas import records
from selfmaker.services.quotas.capacity import host_devices
from selfmaker.services.quotas.catalogue import SERVICE_CODE, SERVICE_NAME, Quota, QuotaBook, count_text
from selfmaker.services.quotas.desk import QuotaDesk
from selfmaker.services.quotas.paging import page
from selfmaker.services.quotas.tables import quota_requests


def _no_service() -> ServiceError:
    return ServiceError("NoSuchResourceException", "The request failed because the specified service does not exist.")


def _no_quota() -> ServiceError:
    return ServiceError("NoSuchResourceException", "The request failed because the specified quota does not exist.")


def _no_context(params: dict) -> None:
    # The notebook quotas are account-level: there is no resource to give a value of its own.
    if params.get("ContextId"):
        raise ServiceError("IllegalArgumentException",
                           "The specified quota is applied at the account level; it takes no ContextId.")


class ServiceQuotasService:
    def __init__(self, engine: Engine, book: QuotaBook, mailer: Mailer):
        self.engine = engine
        self.book = book
        self.desk = QuotaDesk(engine, book, mailer)  # the administrator's decisions, for the console

    # --- helpers ------------------------------------------------------------------------------------

    def _service(self, params: dict) -> None:
        if params.get("ServiceCode") != SERVICE_CODE:
            raise _no_service()

    def _quota(self, params: dict) -> Quota:
        self._service(params)
        quota = self.book.get(params["QuotaCode"])
        if quota is None:
            raise _no_quota()
        return quota

    def _quota_arn(self, ctx: RequestContext, code: str, region: str | None = None) -> str:
        return ctx.arn("servicequotas", f"{SERVICE_CODE}/{code}", region)

    def _shape(self, ctx: RequestContext, quota: Quota, value: float) -> dict:
        return {
            "ServiceCode": SERVICE_CODE, "ServiceName": SERVICE_NAME, "QuotaArn": self._quota_arn(ctx, quota.code),
            "QuotaCode": quota.code, "QuotaName": quota.name, "Value": value, "Unit": "None",
            "Adjustable": True, "GlobalQuota": False, "QuotaAppliedAtLevel": "ACCOUNT",
        }

    def _request_shape(self, ctx: RequestContext, row: Row) -> dict:
        return {
            "Id": row.request_id, "ServiceCode": row.service_code, "ServiceName": SERVICE_NAME,
            "QuotaCode": row.quota_code, "QuotaName": row.quota_name, "DesiredValue": row.desired_value,
            "Status": row.status, "Created": row.created, "LastUpdated": row.last_updated,
            # As AWS words it: a JSON object naming the account and the caller's ARN.
            "Requester": json.dumps({"accountId": row.account_id, "callerArn": row.requester},
                                    separators=(",", ":")),
            "QuotaArn": self._quota_arn(ctx, row.quota_code, row.region), "GlobalQuota": False, "Unit": "None",
            "QuotaRequestedAtLevel": "ACCOUNT",
        }

    def _values(self, ctx: RequestContext, quotas: list[Quota]) -> dict[str, float]:
        """The value of each quota as the account sees it: applied (else default), capped by the host."""
        with self.engine.connect() as conn:
            applied = records.applied_values(conn, ctx.account_id, ctx.region, SERVICE_CODE)
        devices = host_devices()
        return {quota.code: devices.capped(quota, applied.get(quota.code, quota.default)) for quota in quotas}

    def _value(self, ctx: RequestContext, quota: Quota) -> float:
        return self._values(ctx, [quota])[quota.code]

    def _requests(self, ctx: RequestContext, params: dict, quota_code: str | None = None) -> dict:
        query = select(quota_requests).where(quota_requests.c.account_id == ctx.account_id,
                                             quota_requests.c.region == ctx.region)
        if quota_code is not None:
            query = query.where(quota_requests.c.quota_code == quota_code)
        if params.get("Status"):
            query = query.where(quota_requests.c.status == params["Status"])
        with self.engine.connect() as conn:
            # Newest first, as the console's history shows them; the id breaks ties so pages never overlap.
            rows = conn.execute(query.order_by(quota_requests.c.created.desc(), quota_requests.c.request_id)).all()
        if params.get("QuotaRequestedAtLevel") == "RESOURCE":
            rows = []  # every request here is an account-level one
        items, token = page(rows, params, "requests")
        return {"RequestedQuotas": [self._request_shape(ctx, row) for row in items], "NextToken": token}

    # --- operations ---------------------------------------------------------------------------------

    def ListServices(self, ctx: RequestContext, params: dict) -> dict:
        items, token = page([{"ServiceCode": SERVICE_CODE, "ServiceName": SERVICE_NAME}], params, "services")
        return {"Services": items, "NextToken": token}

    def ListServiceQuotas(self, ctx: RequestContext, params: dict) -> dict:
        self._service(params)
        quotas = self.book.all()
        if params.get("QuotaCode"):
            quotas = [quota for quota in quotas if quota.code == params["QuotaCode"]]
        if params.get("QuotaAppliedAtLevel") == "RESOURCE":
            quotas = []  # no notebook quota has resource-level values
        items, token = page(quotas, params, "quotas")
        values = self._values(ctx, items)
        return {"Quotas": [self._shape(ctx, quota, values[quota.code]) for quota in items], "NextToken": token}

    def GetServiceQuota(self, ctx: RequestContext, params: dict) -> dict:
        quota = self._quota(params)
        _no_context(params)
        return {"Quota": self._shape(ctx, quota, self._value(ctx, quota))}

    def GetAWSDefaultServiceQuota(self, ctx: RequestContext, params: dict) -> dict:
        quota = self._quota(params)
        return {"Quota": self._shape(ctx, quota, quota.default)}

    def ListAWSDefaultServiceQuotas(self, ctx: RequestContext, params: dict) -> dict:
        self._service(params)
        items, token = page(self.book.all(), params, "defaults")
        return {"Quotas": [self._shape(ctx, quota, quota.default) for quota in items], "NextToken": token}

    def RequestServiceQuotaIncrease(self, ctx: RequestContext, params: dict) -> dict:
        quota = self._quota(params)
        _no_context(params)
        desired = params["DesiredValue"]
        now = time.time()
        request_id = secrets.token_hex(16)
        current = self._value(ctx, quota)  # what GetServiceQuota answers
        with self.engine.begin() as conn:
            if desired <= current:
                raise ServiceError(
                    "IllegalArgumentException",
                    f"The desired value ({count_text(desired)}) must be greater than the current quota value "
                    f"({count_text(current)}).",
                )
            open_request = conn.execute(select(quota_requests.c.request_id).where(
                quota_requests.c.account_id == ctx.account_id, quota_requests.c.region == ctx.region,
                quota_requests.c.service_code == SERVICE_CODE, quota_requests.c.quota_code == quota.code,
                quota_requests.c.status.in_(records.OPEN),
            )).first()
            if open_request is not None:
                raise ServiceError("ResourceAlreadyExistsException",
                                   "Only one open service quota increase request is allowed per quota.")
            conn.execute(insert(quota_requests).values(
                request_id=request_id, account_id=ctx.account_id, region=ctx.region, service_code=SERVICE_CODE,
                quota_code=quota.code, quota_name=quota.name, desired_value=desired, status=records.PENDING,
                requester=ctx.principal_arn, created=now, last_updated=now,
            ))
        row = records.request(self.engine, request_id)
        return {"RequestedQuota": self._request_shape(ctx, row)}

    def GetRequestedServiceQuotaChange(self, ctx: RequestContext, params: dict) -> dict:
        row = records.request(self.engine, params["RequestId"])
        if row is None or (row.account_id, row.region) != (ctx.account_id, ctx.region):
            raise ServiceError("NoSuchResourceException",
                               "The request failed because the specified quota increase request does not exist.")
        return {"RequestedQuota": self._request_shape(ctx, row)}

    def ListRequestedServiceQuotaChangeHistory(self, ctx: RequestContext, params: dict) -> dict:
        if "ServiceCode" in params:
            self._service(params)
        return self._requests(ctx, params)

    def ListRequestedServiceQuotaChangeHistoryByQuota(self, ctx: RequestContext, params: dict) -> dict:
        quota = self._quota(params)
        return self._requests(ctx, params, quota.code)
