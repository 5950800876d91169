"""Notebook host names: built from an instance, and read back from a Host header."""

from __future__ import annotations

import pytest

from selfmaker.services.sagemaker.notebook_hosts import (
    NotebookHost,
    host_label,
    notebook_netloc,
    notebook_origin,
    parse_notebook_host,
    shortened_prefix,
    valid_domain,
)

ACCOUNT = "123456789012"


def test_origin_takes_the_public_scheme_and_port():
    assert notebook_origin("http://127.0.0.1:8080", "FastAI", ACCOUNT, "us-east-1", "localhost") == \
        "http://fastai-123456789012.notebook.us-east-1.localhost:8080"
    assert notebook_origin("https://lab.example.edu", "fastai", ACCOUNT, "eu-west-2", "nb.example.edu") == \
        "https://fastai-123456789012.notebook.eu-west-2.nb.example.edu"
    assert notebook_netloc("https://lab.example.edu:8443/", "a-b", ACCOUNT, "us-east-1", "localhost") == \
        "a-b-123456789012.notebook.us-east-1.localhost:8443"


@pytest.mark.parametrize("host", [
    "my--nb-2-123456789012.notebook.ap-northeast-2.localhost:8080",
    "MY--NB-2-123456789012.Notebook.AP-NORTHEAST-2.LOCALHOST",
    "my--nb-2-123456789012.notebook.ap-northeast-2.localhost.",
])
def test_a_host_names_its_instance_case_insensitively(host):
    assert parse_notebook_host(host, "localhost") == NotebookHost("my--nb-2", ACCOUNT, "ap-northeast-2")


@pytest.mark.parametrize("host", [
    "127.0.0.1:8080", "localhost:8080", "[::1]:8080", "", "notebook.us-east-1.localhost",
    "fastai-123456789012.notebook.us-east-1.localhost.evil.example",  # another domain
    "fastai-123456789012.notebook.us-east-1.example.com",
    "fastai-12345.notebook.us-east-1.localhost",  # no account id
    "x.fastai-123456789012.notebook.us-east-1.localhost",  # deeper
    "-fastai-123456789012.notebook.us-east-1.localhost",
    "fastai-123456789012.console.us-east-1.localhost",
])
def test_other_hosts_are_no_notebook_hosts(host):
    assert parse_notebook_host(host, "localhost") is None


def test_domains():
    assert valid_domain("localhost") and valid_domain("nb.example.edu") and valid_domain("a-1.b")
    assert not valid_domain("") and not valid_domain("-x.example") and not valid_domain("x..y")
    assert not valid_domain("x_y.example") and not valid_domain("https://x.example")


def test_long_names_fit_one_dns_label_and_stay_apart():
    first, second = "a" * 60 + "-one", "a" * 60 + "-two"
    hosts = [notebook_netloc("http://127.0.0.1:8080", name, ACCOUNT, "us-east-1", "localhost") for name in
             (first, second)]
    labels = [host.split(".", 1)[0] for host in hosts]
    assert all(len(label) == 63 for label in labels) and labels[0] != labels[1]
    parsed = parse_notebook_host(hosts[0], "localhost")
    assert parsed is not None and shortened_prefix(parsed.name) == first[:41]
    assert host_label(first, ACCOUNT) == labels[0]
    assert shortened_prefix("fastai") is None and host_label("fastai", ACCOUNT) == "fastai-123456789012"
