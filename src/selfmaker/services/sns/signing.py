"""Message signatures as SNS makes them, so that HTTP subscribers can verify what they receive.

The key and a self-signed certificate are made on first use and kept in the store; the certificate
is served at SigningCertURL. SignatureVersion 1 signs with SHA1withRSA, 2 with SHA256withRSA.
"""

from __future__ import annotations

import base64
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, insert, select

from selfmaker.store.tables import settings_kv

_KEY, _CERT = "sns_signing_key", "sns_signing_cert"
# The fields signed, in order, for each message type (absent ones are skipped).
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


class MessageSigner:
    def __init__(self, engine: Engine):
        key_pem, self.cert_pem = _load_or_create(engine)
        self._key = serialization.load_pem_private_key(key_pem, password=None)

    def sign(self, envelope: dict[str, str]) -> str:
        fields = _NOTIFICATION_FIELDS if envelope["Type"] == "Notification" else _CONFIRMATION_FIELDS
        text = "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope)
        digest = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()  # v1 is SHA1 by definition
        return base64.b64encode(self._key.sign(text.encode(), padding.PKCS1v15(), digest)).decode()


def _load_or_create(engine: Engine) -> tuple[bytes, bytes]:
    with engine.begin() as conn:
        rows = dict(conn.execute(select(settings_kv.c.key, settings_kv.c.value)
                                 .where(settings_kv.c.key.in_([_KEY, _CERT]))).all())
        if len(rows) == 2:
            return rows[_KEY].encode(), rows[_CERT].encode()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.selfmaker.localhost")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        conn.execute(settings_kv.delete().where(settings_kv.c.key.in_([_KEY, _CERT])))
        conn.execute(insert(settings_kv), [{"key": _KEY, "value": key_pem.decode()},
                                           {"key": _CERT, "value": cert_pem.decode()}])
    return key_pem, cert_pem
