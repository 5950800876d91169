"""Sign-in, sessions, CSRF, the lock-out and what an IAM user may see, through HTTP against a real server."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import VENV_BIN, ServerProcess, _stop_everything
from tests.console.conftest import ROOT_PASSWORD, csrf_field, sign_in


def test_pages_need_a_session(console_server):
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        response = client.get("/sagemaker/notebook-instances?region=us-east-1")
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=%2Fsagemaker%2Fnotebook-instances%3Fregion%3Dus-east-1"


def test_root_signs_in_with_a_safe_cookie_and_lands_on_next(console_server):
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        response = sign_in(client, next_path="/sagemaker/notebook-instances?region=ap-northeast-2")
        assert response.status_code == 303
        assert response.headers["location"] == "/sagemaker/notebook-instances?region=ap-northeast-2"
        cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "selfmaker-console" in v)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
        page = client.get("/console/")
        assert page.status_code == 200
        assert "123456789012" in page.text and "Sign out" in page.text and 'href="/console/mail"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_wrong_password_and_foreign_next_are_refused(console_server):
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        wrong = sign_in(client, password="not-the-password", account="123456789012")
        assert wrong.status_code == 401
        assert "Your account, user name or password is incorrect." in wrong.text
        assert "selfmaker-console" not in client.cookies
        # A link that would send the reader elsewhere after sign-in lands on the console instead.
        response = sign_in(client, next_path="//evil.example/steal")
        assert response.headers["location"] == "/console/"


def test_forms_without_the_csrf_token_are_refused(console_server, root_client):
    with httpx.Client(base_url=console_server.endpoint_url) as bare:
        bare.get("/signin")
        forged = bare.post("/signin", data={"csrf_token": "guess", "account": "123456789012", "user": "",
                                            "password": ROOT_PASSWORD, "next": "/console/"})
        assert forged.status_code == 403
        assert "selfmaker-console" not in bare.cookies
    refused = root_client.post("/signout", data={})
    assert refused.status_code == 403
    assert root_client.get("/console/").status_code == 200  # still signed in


def test_sign_out_ends_the_session_on_the_server(console_server, root_client):
    cookie = root_client.cookies["selfmaker-console"]
    page = root_client.get("/console/")
    assert root_client.post("/signout", data={"csrf_token": csrf_field(page.text)}).status_code == 303
    with httpx.Client(base_url=console_server.endpoint_url, cookies={"selfmaker-console": cookie}) as replay:
        assert replay.get("/console/").status_code == 303


def test_korean_follows_the_browser_and_the_switch(console_server):
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        page = client.get("/signin", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"})
        assert '<html lang="ko">' in page.text and "로그인" in page.text
        switched = client.get("/console/language?lang=ko&next=/signin")
        assert switched.status_code == 303 and switched.headers["location"] == "/signin"
        page = client.get("/signin", headers={"Accept-Language": "en-US"})
        assert "계정 ID" in page.text
        assert "Too many" not in page.text


def test_repeated_failures_lock_the_user_out_even_with_the_right_password(console_server):
    iam = console_server.client("iam")
    iam.create_user(UserName="guesser")
    iam.create_login_profile(UserName="guesser", Password="guesser-password-1")
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        for _ in range(5):
            assert sign_in(client, user="guesser", password="wrong-guess-000").status_code == 401
        locked = sign_in(client, user="guesser", password="guesser-password-1")
        assert locked.status_code == 429
        seconds = int(re.search(r"Try again in (\d+) seconds", locked.text).group(1))
        assert 0 < seconds <= 31
        assert "selfmaker-console" not in client.cookies
        # Another user of the same account is not locked out by someone guessing at "guesser".
        assert sign_in(client).status_code == 303


def test_parallel_guesses_cannot_race_past_the_lock_out(console_server):
    iam = console_server.client("iam")
    iam.create_user(UserName="racer")
    iam.create_login_profile(UserName="racer", Password="racer-password-1")
    clients = [httpx.Client(base_url=console_server.endpoint_url, timeout=60) for _ in range(30)]
    try:
        forms = [csrf_field(client.get("/signin").text) for client in clients]  # each its own CSRF cookie
        start = threading.Barrier(len(clients))

        def guess(index: int) -> int:
            start.wait()
            return clients[index].post("/signin", data={
                "csrf_token": forms[index], "account": "123456789012", "user": "racer",
                "password": f"wrong-guess-{index:03}", "next": "/console/"}).status_code

        with ThreadPoolExecutor(len(clients)) as pool:
            statuses = list(pool.map(guess, range(len(clients))))
    finally:
        for client in clients:
            client.close()
    assert set(statuses) <= {401, 429}
    assert 1 <= statuses.count(401) <= 5, statuses  # at most five passwords were checked at all
    assert statuses.count(429) >= 25
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        locked = sign_in(client, user="racer", password="racer-password-1")
        assert locked.status_code == 429
        assert "selfmaker-console" not in client.cookies


def test_iam_user_sees_what_its_policies_allow(console_server):
    iam = console_server.client("iam")
    iam.create_user(UserName="reader")
    iam.create_login_profile(UserName="reader", Password="reader-password-1")
    iam.put_user_policy(UserName="reader", PolicyName="stacks-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "cloudformation:ListStacks", "Resource": "*"}],
    }))
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        assert sign_in(client, user="reader", password="reader-password-1").status_code == 303
        home = client.get("/console/").text
        assert "reader" in home
        assert 'href="/console/mail"' not in home  # the outbox is root's alone
        denied = client.get("/sagemaker/notebook-instances?region=us-east-1")
        assert denied.status_code == 403
        assert "Not allowed" in denied.text
        assert "is not authorized to perform: sagemaker:ListNotebookInstances" in denied.text


def test_generated_root_password_is_printed_once_and_works(tmp_path):
    proc = ServerProcess(tmp_path / "data", tmp_path / "home").start()
    log = tmp_path / "server.log"
    try:
        deadline = time.time() + 10
        while "Root password:" not in log.read_text() and time.time() < deadline:
            time.sleep(0.1)
        password = re.search(r"Root password: (\S+)", log.read_text()).group(1)
        with httpx.Client(base_url=proc.endpoint_url) as client:
            assert sign_in(client, password=password).status_code == 303
        proc.kill()
        proc.start()
        with httpx.Client(base_url=proc.endpoint_url) as client:
            assert sign_in(client, password=password).status_code == 303
        assert log.read_text().count("Root password:") == 1
    finally:
        _stop_everything(proc)


def test_a_root_password_breaking_the_policy_stops_the_start(tmp_path):
    proc = ServerProcess(tmp_path / "data", tmp_path / "home", extra_env={"SELFMAKER_ROOT_PASSWORD": "short"})
    with pytest.raises(RuntimeError, match="exited"):
        proc.start()
    assert "minimum length of 8" in (tmp_path / "server.log").read_text()


def test_a_password_reset_comes_before_anything_else(console_server):
    iam = console_server.client("iam")
    iam.create_user(UserName="newcomer")
    iam.create_login_profile(UserName="newcomer", Password="first-password-1", PasswordResetRequired=True)
    iam.put_user_policy(UserName="newcomer", PolicyName="own-password", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ChangePassword",
                       "Resource": "arn:aws:iam::*:user/${aws:username}"}],
    }))
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        signed_in = sign_in(client, user="newcomer", password="first-password-1", next_path="/console/mail")
        assert signed_in.headers["location"] == "/console/password?next=%2Fconsole%2Fmail"
        assert client.get("/cloudformation/stacks").headers["location"].startswith("/console/password?next=")
        form = client.get("/console/password?next=/console/")
        fields = {"csrf_token": csrf_field(form.text), "next": "/console/", "old_password": "first-password-1"}
        mismatch = client.post("/console/password", data={**fields, "new_password": "second-password-2",
                                                           "confirm_password": "second-password-3"})
        assert mismatch.status_code == 400 and "The new passwords do not match." in mismatch.text
        changed = client.post("/console/password", data={**fields, "new_password": "second-password-2",
                                                          "confirm_password": "second-password-2"})
        assert changed.status_code == 303 and changed.headers["location"] == "/console/"
        assert client.get("/console/").status_code == 200
    assert iam.get_login_profile(UserName="newcomer")["LoginProfile"]["PasswordResetRequired"] is False
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        assert sign_in(client, user="newcomer", password="first-password-1").status_code == 401
        assert sign_in(client, user="newcomer", password="second-password-2").headers["location"] == "/console/"


def test_deleting_a_user_signs_it_out(console_server):
    iam = console_server.client("iam")
    iam.create_user(UserName="leaver")
    iam.create_login_profile(UserName="leaver", Password="leaver-password-1")
    with httpx.Client(base_url=console_server.endpoint_url) as client:
        assert sign_in(client, user="leaver", password="leaver-password-1").status_code == 303
        assert client.get("/console/").status_code == 200
        iam.delete_login_profile(UserName="leaver")
        iam.delete_user(UserName="leaver")
        gone = client.get("/console/")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")


def test_root_password_can_be_reset_from_the_command_line(tmp_path):
    proc = ServerProcess(tmp_path / "data", tmp_path / "home",
                         extra_env={"SELFMAKER_ROOT_PASSWORD": "first-root-password"}).start()
    try:
        with httpx.Client(base_url=proc.endpoint_url) as old_session:
            assert sign_in(old_session, password="first-root-password").status_code == 303
            env = {**proc.env, "SELFMAKER_ROOT_PASSWORD": ""}
            short = subprocess.run([str(VENV_BIN / "selfmaker"), "root-password", "--data-dir", str(proc.data_dir),
                                    *proc.database_args()],
                                   input="short\nshort\n", env=env, capture_output=True, text=True, timeout=60)
            assert short.returncode == 2 and "minimum length of 8" in short.stderr
            done = subprocess.run([str(VENV_BIN / "selfmaker"), "root-password", "--data-dir", str(proc.data_dir),
                                    *proc.database_args()],
                                  input="second-root-password\nsecond-root-password\n", env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert old_session.get("/console/").status_code == 303  # signed out with the old password
        with httpx.Client(base_url=proc.endpoint_url) as client:
            assert sign_in(client, password="first-root-password").status_code == 401
            assert sign_in(client, password="second-root-password").status_code == 303
    finally:
        _stop_everything(proc)
