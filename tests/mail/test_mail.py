"""The mail module on its own: SMTP URLs, the outbox, and sending to a real SMTP server."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import stat

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from selfmaker.mail import Mailer, MailError, Outbox, links, open_mailer, parse_smtp_url
from tests.conftest import free_port
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def test_smtp_urls():
    plain = parse_smtp_url("smtp://mail.example.com")
    assert (plain.host, plain.port, plain.implicit_tls, plain.username) == ("mail.example.com", 25, False, None)
    secure = parse_smtp_url("smtps://me%40example.com:p%3Ass@mail.example.com:2465")
    assert (secure.port, secure.implicit_tls, secure.username, secure.password) == (
        2465, True, "me@example.com", "p:ss")
    assert parse_smtp_url("smtps://mail.example.com").port == 465
    assert "p:ss" not in repr(secure) and "p:ss" not in secure.describe()
    for bad in ("http://mail.example.com", "smtp://", "smtp://host:99999", "smtp://host/path", "mail.example.com"):
        with pytest.raises(ValueError):
            parse_smtp_url(bad)


def test_sender_must_be_a_plain_address(tmp_path):
    for bad in ("Someone <a@example.com>", "nobody", "a@example.com\r\nBcc: x@example.com"):
        with pytest.raises(ValueError):
            Mailer(Outbox(tmp_path), sender=bad)


def test_outbox_keeps_each_message_privately_and_only_by_its_own_ids(tmp_path):
    mailer = open_mailer(tmp_path / "outbox")
    message = mailer.compose("a@example.com", "Hello", "Open http://example.com/x?y=1 now.", "Sender Name")
    where = asyncio.run(mailer.send(message))
    entry_id = where.removeprefix("outbox:")
    (entry,) = mailer.outbox.list()
    assert (entry.id, entry.to, entry.subject) == (entry_id, "a@example.com", "Hello")
    assert entry.status.startswith("not sent")
    path = tmp_path / "outbox" / f"{entry_id}.eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = mailer.outbox.get(entry_id)
    assert str(kept["From"]) == "Sender Name <no-reply@selfmaker.localhost>"
    assert links(kept) == ["http://example.com/x?y=1"]
    (tmp_path / "secret.eml").write_text("Subject: not yours\n\nx")
    for hostile in ("../secret", "/etc/passwd", entry_id + "/../../secret", ""):
        assert mailer.outbox.get(hostile) is None


def test_smtp_with_login(tmp_path):
    sink = SmtpSink(login=("user", "pw")).start()
    try:
        mailer = open_mailer(tmp_path, sink.url, "alerts@example.com")
        where = asyncio.run(mailer.send(mailer.compose("b@example.com", "Via SMTP", "body")))
        assert where == f"smtp://user@127.0.0.1:{sink.port}"
        received = sink.wait_for("b@example.com", "Via SMTP")
        assert received["From"].addresses[0].addr_spec == "alerts@example.com"
        wrong = open_mailer(tmp_path, sink.url.replace(":pw@", ":nope@"))
        with pytest.raises(MailError, match="Authentication"):
            asyncio.run(wrong.send(wrong.compose("b@example.com", "x", "y")))
    finally:
        sink.stop()
    assert mailer.outbox.list() == []  # sent by SMTP: nothing kept


def test_smtp_failures_raise_instead_of_dropping(tmp_path):
    down = open_mailer(tmp_path, f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(MailError, match="ConnectionRefused"):
        asyncio.run(down.send(down.compose("c@example.com", "x", "y")))
    sink = SmtpSink().start()
    try:
        # smtps:// speaks TLS from the first byte; a plain server cannot answer it.
        implicit = open_mailer(tmp_path, f"smtps://127.0.0.1:{sink.port}")
        with pytest.raises(MailError, match="SSL"):
            asyncio.run(implicit.send(implicit.compose("c@example.com", "x", "y")))
    finally:
        sink.stop()


def _self_signed(tmp_path) -> ssl.SSLContext:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_starttls_is_used_when_offered_and_the_certificate_is_checked(tmp_path):
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, tls_context=_self_signed(tmp_path))
    controller.start()
    try:
        mailer = open_mailer(tmp_path, sink.url)
        # The server offers STARTTLS with a certificate nobody vouches for: refused, never sent in clear.
        with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(mailer.send(mailer.compose("d@example.com", "x", "y")))
        assert sink.messages == []
    finally:
        controller.stop()
