"""The HTTP face of notebook instances' role credentials (botocore's container-credentials protocol)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from selfmaker.services.sts.instance_credentials import CREDENTIALS_PATH, InstanceCredentials, InstanceCredentialsError


def instance_credentials_routes(issuer: InstanceCredentials) -> list[Route]:
    async def credentials(request: Request) -> JSONResponse:
        # botocore sends AWS_CONTAINER_AUTHORIZATION_TOKEN as the whole Authorization header.
        token = request.headers.get("authorization", "")
        try:
            body = issuer.issue(request.path_params["instance_id"], token)
        except InstanceCredentialsError as err:
            return JSONResponse({"Code": err.code, "Message": err.message}, status_code=err.status)
        return JSONResponse(body)

    return [Route(CREDENTIALS_PATH + "{instance_id}", credentials, methods=["GET"])]
