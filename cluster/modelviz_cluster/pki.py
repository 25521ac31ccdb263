"""Certificates for the local control plane: a CA, the API server's serving cert, client certs, a SA key pair."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["NodePki", "Pki", "make_node_pki", "make_pki"]

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    controller_manager_cert: Path
    controller_manager_key: Path
    scheduler_cert: Path
    scheduler_key: Path
    sa_key: Path
    sa_pub: Path
    # The API server's client certificate towards kubelets (logs, exec, port-forward).
    kubelet_client_cert: Path
    kubelet_client_key: Path


@dataclass(frozen=True)
class NodePki:
    """A real node's certificates, issued by the cluster's CA."""

    kubelet_serving_cert: Path
    kubelet_serving_key: Path
    kubelet_cert: Path  # the kubelet's client identity, system:node:<name> in group system:nodes
    kubelet_key: Path
    proxy_cert: Path  # kube-proxy, bound to the system:node-proxier role by the API server's defaults
    proxy_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(parts)


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server_names: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
    client: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        usages = []
        if server_names or server_ips:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            alt: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
            alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path, service_ip: str = "10.0.0.1") -> Pki:
    """Create (or reuse) every key and certificate under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = Pki(
        *(
            directory / f
            for f in (
                "ca.crt",
                "ca.key",
                "apiserver.crt",
                "apiserver.key",
                "admin.crt",
                "admin.key",
                "controller-manager.crt",
                "controller-manager.key",
                "scheduler.crt",
                "scheduler.key",
                "sa.key",
                "sa.pub",
                "apiserver-kubelet-client.crt",
                "apiserver-kubelet-client.key",
            )
        )
    )
    if all(p.exists() for p in vars(paths).values()):
        return paths
    ca_key = _key()
    ca_name = _name("modelviz-local-ca")
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write_key(paths.ca_key, ca_key)
    paths.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(cert: Path, keyfile: Path, subject: x509.Name, **kwargs: object) -> None:
        key = _key()
        issued = _issue(subject, key, ca_name, ca_key, **kwargs)  # type: ignore[arg-type]
        _write_key(keyfile, key)
        cert.write_bytes(issued.public_bytes(serialization.Encoding.PEM))

    leaf(
        paths.serving_cert,
        paths.serving_key,
        _name("kube-apiserver"),
        server_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        server_ips=("127.0.0.1", service_ip),
    )
    leaf(paths.admin_cert, paths.admin_key, _name("modelviz-admin", "system:masters"), client=True)
    leaf(
        paths.controller_manager_cert,
        paths.controller_manager_key,
        _name("system:kube-controller-manager"),
        client=True,
    )
    leaf(paths.scheduler_cert, paths.scheduler_key, _name("system:kube-scheduler"), client=True)
    leaf(
        paths.kubelet_client_cert,
        paths.kubelet_client_key,
        _name("kube-apiserver-kubelet-client", "system:masters"),
        client=True,
    )
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(paths.sa_key, sa)
    paths.sa_pub.write_bytes(
        sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return paths


def make_node_pki(directory: Path, pki: Pki, node_name: str, node_ips: tuple[str, ...]) -> NodePki:
    """Certificates of the node ``node_name`` serving on ``node_ips``, issued by the CA of ``pki``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = NodePki(
        *(
            directory / f
            for f in (
                "kubelet.crt",
                "kubelet.key",
                "kubelet-client.crt",
                "kubelet-client.key",
                "proxy.crt",
                "proxy.key",
            )
        )
    )
    if all(p.exists() for p in vars(paths).values()):
        return paths
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{pki.ca_key}: expected an EC key")
    ca_name = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()).subject

    def leaf(cert: Path, keyfile: Path, subject: x509.Name, **kwargs: object) -> None:
        key = _key()
        issued = _issue(subject, key, ca_name, ca_key, **kwargs)  # type: ignore[arg-type]
        _write_key(keyfile, key)
        cert.write_bytes(issued.public_bytes(serialization.Encoding.PEM))

    leaf(
        paths.kubelet_serving_cert,
        paths.kubelet_serving_key,
        _name(f"system:node:{node_name}", "system:nodes"),
        server_names=(node_name, "localhost"),
        server_ips=node_ips,
    )
    leaf(paths.kubelet_cert, paths.kubelet_key, _name(f"system:node:{node_name}", "system:nodes"), client=True)
    leaf(paths.proxy_cert, paths.proxy_key, _name("system:kube-proxy"), client=True)
    return paths
