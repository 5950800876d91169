"""--public-url: the links Selfmaker hands out name the address people reach it at, not the one it binds."""

from __future__ import annotations

import configparser
import time

from selfmaker.mail import Outbox, links
from tests.conftest import ServerProcess, _stop_everything

PUBLIC = "https://lab.example.edu:8443"


def test_links_use_the_public_url(tmp_path):
    proc = ServerProcess(tmp_path / "data", tmp_path / "home", extra_env={"SELFMAKER_PUBLIC_URL": PUBLIC + "/"})
    proc.start()
    try:
        log = (tmp_path / "server.log").read_text()
        assert f"Console: {PUBLIC}/console/" in log
        config = configparser.ConfigParser()
        config.read(tmp_path / "home" / ".aws" / "config")
        assert config["profile selfmaker"]["endpoint_url"] == PUBLIC
        sns = proc.client("sns")
        topic = sns.create_topic(Name="ready")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="student@example.com")
        outbox = Outbox(tmp_path / "data" / "outbox")
        deadline = time.time() + 30
        while not outbox.list() and time.time() < deadline:
            time.sleep(0.2)
        [entry] = outbox.list()
        assert any(link.startswith(f"{PUBLIC}/_selfmaker/sns/confirm?") for link in links(outbox.get(entry.id)))
    finally:
        _stop_everything(proc)
