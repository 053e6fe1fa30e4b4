"""A throw-away PKI (city CA, server and per-terminal client certificates) and a TLS-only SCRAM cluster.

Certificates are made with the `cryptography` package, the way `openssl` would make them for IT
(運用保守設計書 describes the openssl commands): EC P-256 keys, the terminal's key encrypted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pgtools import ScramCluster


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "深川市"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key: ec.EllipticCurvePrivateKey, passphrase: str | None) -> bytes:
    enc = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


@dataclass
class CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, cn: str = "深川市 窓口システム CA") -> CA:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, *, server_names: tuple[str, ...] = ()) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        """A leaf certificate (PEM) and its key: a server certificate when `server_names` are given."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False))
        if server_names:
            sans: list[x509.GeneralName] = []
            for n in server_names:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    sans.append(x509.DNSName(n))
            b = (b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
                 .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM), key

    def write_client(self, folder: Path, terminal: str, passphrase: str | None) -> tuple[Path, Path]:
        """`<terminal>.crt` and `<terminal>.key` (encrypted with `passphrase`, mode 0600) in `folder`."""
        cert, key = self.issue(terminal)
        folder.mkdir(parents=True, exist_ok=True)
        crt_path, key_path = folder / f"{terminal}.crt", folder / f"{terminal}.key"
        crt_path.write_bytes(cert)
        key_path.write_bytes(_key_pem(key, passphrase))
        os.chmod(key_path, 0o600)
        return crt_path, key_path


class TlsCluster(ScramCluster):
    """SCRAM over TLS only; staff roles must also show a client certificate signed by the city CA.

    `clientcert` is `verify-ca` for every role but the superuser: a per-terminal certificate names the
    PC, not the staff member, and `verify-full` would compare its CN with the login role.
    """

    SERVER_NAME = "localhost"

    def __init__(self, ca: CA, *, clientcert: str = "verify-ca") -> None:
        super().__init__()
        self.ca = ca
        self.clientcert = clientcert

    def configure(self) -> str:
        cert, key = self.ca.issue("madoguchi-db", server_names=(self.SERVER_NAME,))
        files = {"server.crt": cert, "server.key": _key_pem(key, None), "city-ca.crt": self.ca.cert_pem()}
        for name, data in files.items():
            (self.data / name).write_bytes(data)
            os.chmod(self.data / name, 0o600)
            if os.geteuid() == 0:
                shutil.chown(self.data / name, "postgres", "postgres")
        hba = ["local all all scram-sha-256"]
        for net in ("127.0.0.1/32", "::1/128"):
            hba += [f"hostssl all postgres {net} scram-sha-256",
                    f"hostssl all all {net} scram-sha-256 clientcert={self.clientcert}"]
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        return "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c ssl_ca_file=city-ca.crt"


PASSPHRASE = "鍵の合言葉-PC07"
TERMINAL = "PC07"


def write_terminal(folder: Path, ca: CA, other_ca: CA, *, port: int, database: str, **server: str) -> Path:
    """A counter PC's files as IT lays them out: config.toml beside tls/ (CA, certificate, encrypted key).

    Also writes `other/PC07.*` (a certificate from another CA) and `plain/PC07.*` (an unencrypted key).
    `server` overrides or adds [server] keys; a value of None removes the key.
    """
    tls = folder / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "city-ca.crt").write_bytes(ca.cert_pem())
    ca.write_client(tls, TERMINAL, PASSPHRASE)
    other_ca.write_client(folder / "other", TERMINAL, PASSPHRASE)
    ca.write_client(folder / "plain", TERMINAL, None)
    keys = {"host": TlsCluster.SERVER_NAME, "port": port, "database": database, "sslmode": "verify-full",
            "sslrootcert": "tls/city-ca.crt", "sslcert": f"tls/{TERMINAL}.crt", "sslkey": f"tls/{TERMINAL}.key"}
    keys.update(server)
    lines = ["[terminal]", f'name = "{TERMINAL}"', 'counter_no = "3"', "", "[server]"]
    for k, v in keys.items():
        if v is not None:
            lines.append(f"{k} = {v}" if isinstance(v, int) else f"{k} = '{v}'")
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
