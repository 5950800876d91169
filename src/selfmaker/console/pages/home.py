"""The console home (services, regions, the guide's "Launch Stack" table) and AWS-shaped entry links.

AWS console links keep their route after ``#`` (``/cloudformation/home?region=R#/stacks/create/review?…``),
which browsers never send: ``/<service>/home`` answers a tiny page whose script turns the fragment into
one of our paths, so links written for AWS work here with only the host changed.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.responses import Response

from selfmaker.console.web import Console, View

FASTAI_TEMPLATE = "selfmaker://fastai.yaml"
# The guide's table: regions with SageMaker notebook instances and GPUs, Seoul among them.
LAUNCH_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1",
                  "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ap-south-1")


def quick_create_link(region: str, template_url: str = FASTAI_TEMPLATE, stack_name: str = "fastai") -> str:
    """The AWS console's quick-create link shape, pointed at this server."""
    fragment = urlencode({"templateURL": template_url, "stackName": stack_name}, quote_via=quote)
    return f"/cloudformation/home?region={region}#/stacks/create/review?{fragment}"


def routes(console: Console) -> list:
    async def home(view: View) -> Response:
        launch = [(code, view.regions_name(code), quick_create_link(code)) for code in LAUNCH_REGIONS]
        return view.render("home.html", launch=launch)

    async def service_home(view: View) -> Response:
        # The fragment is read by console-links.js; without script, the service's main page.
        service = view.request.url.path.split("/")[1]
        fallback = {"cloudformation": "/cloudformation/stacks", "sagemaker": "/sagemaker/notebook-instances",
                    "cloudwatch": "/cloudwatch/log-groups"}[service]
        return view.render("service_home.html", fallback=view.url(fallback))

    async def root(view: View) -> Response:
        return view.redirect("/console/")

    return [
        console.route("/console/", home),
        console.route("/console", root, public=True),
        *(console.route(f"/{service}/home", service_home, public=True)
          for service in ("cloudformation", "sagemaker", "cloudwatch")),
    ]
