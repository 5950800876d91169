"""What every stack-changing request does first, answering bad input with AWS's error before anything is
written: parse and check the template, give the parameters their values, check the capabilities, and
decide the conditions."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.parameters import NO_ECHO_MASK, resolve
from selfmaker.domain.cfn.plan import Plan, make_plan, pseudo_parameters
from selfmaker.domain.cfn.template import Template
from selfmaker.offload import on_user_input_pool
from selfmaker.services.base import RequestContext, ServiceError

_STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
MAX_STACK_NAME = 128


def invalid(message: str) -> ServiceError:
    return ServiceError("ValidationError", message)


def check_stack_name(name: str) -> None:
    if len(name) > MAX_STACK_NAME or not _STACK_NAME.fullmatch(name):
        raise invalid(f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*")


def new_stack_id(ctx: RequestContext, name: str) -> str:
    return ctx.arn("cloudformation", f"stack/{name}/{uuid.uuid4()}")


def parse(body: str, attributes: Mapping[str, frozenset[str]]) -> Template:
    """The template, checked; a fault is a ValidationError whose message names the place."""
    try:
        template = Template(body)
        template.check(attributes)
    except TemplateError as err:
        raise invalid(str(err)) from None
    return template


def check_capabilities(template: Template, given: list[str]) -> None:
    needed, _reason = template.capabilities()
    # CAPABILITY_NAMED_IAM covers unnamed IAM resources too.
    if needed and not (needed[0] in given or "CAPABILITY_NAMED_IAM" in given):
        raise ServiceError("InsufficientCapabilitiesException", f"Requires capabilities : [{needed[0]}]")


@dataclass
class Prepared:
    template: Template
    parameters: dict[str, str]
    plan: Plan


def prepare(ctx: RequestContext, body: str, attributes: Mapping[str, frozenset[str]], params: dict, stack_id: str,
            stack_name: str, previous_parameters: dict[str, str] | None = None) -> Prepared:
    template = parse(body, attributes)
    try:
        values = resolve(template.parameters, params.get("Parameters", []), previous_parameters)
    except ValueError as err:
        raise invalid(str(err)) from None
    check_capabilities(template, params.get("Capabilities", []))
    pseudo = pseudo_parameters(ctx.account_id, ctx.region, stack_id, stack_name, params.get("NotificationARNs", []))
    try:
        plan = make_plan(template, values, pseudo)
    except TemplateError as err:
        raise invalid(str(err)) from None
    return Prepared(template, values, plan)


async def prepare_off_loop(*args, **kwargs) -> Prepared:
    """``prepare`` in the user-input pool: parsing a template and matching its parameters against their patterns
    is CPU work (bounded, but up to a second), which must not hold up everyone else's requests."""
    return await on_user_input_pool(prepare, *args, **kwargs)


async def parse_off_loop(body: str, attributes: Mapping[str, frozenset[str]]) -> Template:
    """``parse`` in the user-input pool, for the same reason."""
    return await on_user_input_pool(parse, body, attributes)


@lru_cache(maxsize=256)
def _no_echo(body: str) -> frozenset[str]:
    try:
        return frozenset(name for name, p in Template(body).parameters.items() if p.no_echo)
    except TemplateError:
        return frozenset()


def shown_parameters(body: str, values: dict[str, str]) -> list[dict]:
    """Parameters as DescribeStacks shows them: NoEcho values masked."""
    hidden = _no_echo(body)
    return [{"ParameterKey": key, "ParameterValue": NO_ECHO_MASK if key in hidden else value}
            for key, value in values.items()]
