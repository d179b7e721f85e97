"""Generate the congvan development PKI (DEVELOPMENT ONLY): keys, config, certificates, P12, CRLs.

Run: .venv/bin/python certs/dev/generate.py [--new-keys] [--out DIR]
Existing keys are reused, so regenerating gives byte-identical certificates (fixed dates and
serials, PKCS#1 v1.5 CA signatures); only P12 files (random salts) and CRLs (current period) change.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from asn1crypto import pem
from certomancer.registry import CertLabel, CertomancerConfig, ServiceLabel
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from signer.devpki import DEV_ARCH, DEV_CONFIG_FILE, DEV_PASSPHRASE, DEV_SERVICES_URL

HERE = Path(__file__).resolve().parent

PROVINCE = "Tiền Giang"
DISTRICT = "Tân Phú Đông"
PKI_ORG = "congvan development PKI - KHÔNG SỬ DỤNG THẬT"

ROOT_VALIDITY = ("2025-01-01T00:00:00+0000", "2050-01-01T00:00:00+0000")
CA_VALIDITY = ("2025-01-01T00:00:00+0000", "2045-01-01T00:00:00+0000")
LEAF_VALIDITY = ("2025-01-01T00:00:00+0000", "2040-01-01T00:00:00+0000")
EXPIRED_VALIDITY = ("2025-01-01T00:00:00+0000", "2025-07-01T00:00:00+0000")
REVOKED_SINCE = "2025-03-01T00:00:00+0000"
TSA_REVOKED_SINCE = "2025-06-01T00:00:00+0000"
CRL_PERIOD = "P7D"


@dataclass(frozen=True)
class Agency:
    """An agency of the development data set."""

    label: str
    code: str
    name: str


@dataclass(frozen=True)
class Official:
    """A fictional official holding a personal certificate."""

    label: str
    agency: str
    name: str
    title: str
    key_type: str  # "rsa" or "ec"


AGENCIES = (
    Agency("agency-tpd", "DEV.TPD.000", "Ủy ban nhân dân huyện Tân Phú Đông"),
    Agency("agency-tanthoi", "DEV.TPD.X01", "Ủy ban nhân dân xã Tân Thới"),
    Agency("agency-tanphu", "DEV.TPD.X02", "Ủy ban nhân dân xã Tân Phú"),
    Agency("agency-phuthanh", "DEV.TPD.X03", "Ủy ban nhân dân xã Phú Thạnh"),
    Agency("agency-phudong", "DEV.TPD.X04", "Ủy ban nhân dân xã Phú Đông"),
    Agency("agency-phutan", "DEV.TPD.X05", "Ủy ban nhân dân xã Phú Tân"),
    Agency("agency-tanthanh", "DEV.TPD.X06", "Ủy ban nhân dân xã Tân Thạnh"),
    Agency(
        "agency-vp",
        "DEV.TPD.P01",
        "Văn phòng HĐND và UBND huyện Tân Phú Đông",
    ),
    Agency("agency-tckh", "DEV.TPD.P02", "Phòng Tài chính - Kế hoạch huyện Tân Phú Đông"),
    Agency("agency-noivu", "DEV.TPD.P03", "Phòng Nội vụ huyện Tân Phú Đông"),
)

CHU_TICH, PHO_CHU_TICH, VAN_THU = "Chủ tịch", "Phó Chủ tịch", "Văn thư"

# (commune, chairman, vice-chairman, clerk); names are invented.
_COMMUNE_PEOPLE = (
    ("tanthoi", "Phạm Văn Hậu", "Huỳnh Thị Thu Trang", "Võ Minh Tâm"),
    ("tanphu", "Đặng Văn Lộc", "Bùi Thị Ngọc Ánh", "Đỗ Thành Công"),
    ("phuthanh", "Hồ Văn Khải", "Ngô Thị Kim Loan", "Dương Quốc Việt"),
    ("phudong", "Lý Văn Sáu", "Trương Thị Bích Ngọc", "Mai Hoàng Phúc"),
    ("phutan", "Phan Văn Thắng", "Châu Thị Diễm My", "Lâm Thanh Tùng"),
    ("tanthanh", "Tô Văn Hiếu", "Cao Thị Thanh Hương", "Đinh Công Khanh"),
)

OFFICIALS = (
    Official("official-tpd-chutich", "agency-tpd", "Nguyễn Văn Bình", CHU_TICH, "rsa"),
    Official("official-tpd-phochutich", "agency-tpd", "Trần Thị Hồng Nhung", PHO_CHU_TICH, "ec"),
    Official("official-tpd-vanthu", "agency-tpd", "Lê Thị Mỹ Duyên", VAN_THU, "ec"),
    *(
        official
        for commune, chairman, vice, clerk in _COMMUNE_PEOPLE
        for official in (
            Official(f"official-{commune}-chutich", f"agency-{commune}", chairman, CHU_TICH, "rsa"),
            Official(
                f"official-{commune}-phochutich", f"agency-{commune}", vice, PHO_CHU_TICH, "ec"
            ),
            Official(f"official-{commune}-vanthu", f"agency-{commune}", clerk, VAN_THU, "rsa"),
        )
    ),
)

BAD_OFFICIALS = (
    Official("bad-expired", "agency-tpd", "Quách Văn Nghĩa", PHO_CHU_TICH, "rsa"),
    Official("bad-revoked", "agency-tpd", "Triệu Thị Hạnh", PHO_CHU_TICH, "rsa"),
    Official("bad-keyusage", "agency-tpd", "Lương Văn Toàn", CHU_TICH, "rsa"),
)

CA_LABELS = ("vn-dev-root", "vn-dev-ca", "rogue-root")
SERVICE_LABELS = ("tsa", "ocsp")
# A second timestamping authority whose certificate is revoked (tests of timestamp revocation).
REVOKED_TSA = "bad-tsa-revoked"
ROGUE_AGENCY = "rogue-agency-tpd"


def key_types() -> dict[str, str]:
    """Key type ("rsa" or "ec") of every label, in issuance order."""
    types = {label: "rsa" for label in CA_LABELS}
    types.update({a.label: "rsa" for a in AGENCIES})
    types.update({o.label: o.key_type for o in (*OFFICIALS, *BAD_OFFICIALS)})
    # ECDSA for the services: certomancer re-reads the signing key for every answer, and an RSA
    # key costs ~55 ms to load against ~0.05 ms for P-256.
    types.update({label: "ec" for label in (*SERVICE_LABELS, REVOKED_TSA)})
    types[ROGUE_AGENCY] = "rsa"
    return types


def _serial(label: str) -> int:
    # Explicit serials: no (issuer, serial) pair repeats, even across the rogue chain.
    digest = hashlib.sha256(f"congvan-dev:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1 | 1 << 56


def _key_usage(*usages: str) -> dict[str, Any]:
    return {
        "id": "key_usage",
        "critical": True,
        "smart-value": {"schema": "key-usage", "params": list(usages)},
    }


def _validity(span: tuple[str, str]) -> dict[str, str]:
    return {"valid-from": span[0], "valid-to": span[1]}


REVOCATION_URLS: list[dict[str, Any]] = [
    {
        "id": "crl_distribution_points",
        "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": ["ca"]}},
    },
    {
        "id": "authority_information_access",
        "smart-value": {
            "schema": "aia-urls",
            "params": {"ocsp-responder-names": ["ocsp"], "ca-issuer-links": [{"repo": "ca"}]},
        },
    },
]
SIGNING_USAGE = _key_usage("digital_signature", "non_repudiation")


def _entities() -> dict[str, dict[str, str]]:
    ca_base = {"country-name": "VN", "organization-name": PKI_ORG}
    entities: dict[str, dict[str, str]] = {
        "vn-dev-root": {**ca_base, "common-name": "congvan DEV Root CA (DEVELOPMENT ONLY)"},
        "vn-dev-ca": {**ca_base, "common-name": "congvan DEV Official-Use CA (DEVELOPMENT ONLY)"},
        "tsa": {**ca_base, "common-name": "congvan DEV Time Stamping Authority"},
        "ocsp": {**ca_base, "common-name": "congvan DEV OCSP Responder"},
        REVOKED_TSA: {**ca_base, "common-name": "congvan DEV Time Stamping Authority (revoked)"},
    }
    # Same attributes as the real root: the point of the rogue chain is a name collision.
    entities["rogue-root"] = dict(entities["vn-dev-root"])
    by_label = {a.label: a for a in AGENCIES}
    place = {"country-name": "VN", "state-or-province-name": PROVINCE, "locality-name": DISTRICT}
    for agency in AGENCIES:
        entities[agency.label] = {
            **place,
            "organization-name": agency.name,
            "organization-identifier": agency.code,
            "common-name": agency.name,
        }
    for official in (*OFFICIALS, *BAD_OFFICIALS):
        agency = by_label[official.agency]
        entities[official.label] = {
            **place,
            "organization-name": agency.name,
            "organization-identifier": agency.code,
            "title": official.title,
            "common-name": official.name,
        }
    entities[ROGUE_AGENCY] = dict(entities["agency-tpd"])
    return entities


def _certs() -> dict[str, dict[str, Any]]:
    ca_usage = _key_usage("key_cert_sign", "crl_sign")
    certs: dict[str, dict[str, Any]] = {
        "vn-dev-root": {
            "subject": "vn-dev-root",
            "issuer": "vn-dev-root",
            "serial": _serial("vn-dev-root"),
            "validity": _validity(ROOT_VALIDITY),
            "extensions": [
                {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
                ca_usage,
            ],
        },
        "vn-dev-ca": {
            "subject": "vn-dev-ca",
            "issuer": "vn-dev-root",
            "serial": _serial("vn-dev-ca"),
            "validity": _validity(CA_VALIDITY),
            "extensions": [
                {
                    "id": "basic_constraints",
                    "critical": True,
                    "value": {"ca": True, "path_len_constraint": 0},
                },
                ca_usage,
                {
                    "id": "crl_distribution_points",
                    "smart-value": {
                        "schema": "crl-dist-url",
                        "params": {"crl-repo-names": ["root"]},
                    },
                },
                {
                    "id": "authority_information_access",
                    "smart-value": {
                        "schema": "aia-urls",
                        "params": {"ca-issuer-links": [{"repo": "root"}]},
                    },
                },
            ],
        },
    }

    def leaf(label: str, extensions: list[dict[str, Any]], **extra: Any) -> None:
        certs[label] = {
            "subject": label,
            "issuer": "vn-dev-ca",
            "serial": _serial(label),
            "validity": _validity(LEAF_VALIDITY),
            "extensions": extensions,
            **extra,
        }

    for agency in AGENCIES:
        leaf(agency.label, [SIGNING_USAGE, *REVOCATION_URLS])
    for official in OFFICIALS:
        leaf(official.label, [SIGNING_USAGE, *REVOCATION_URLS])
    leaf("bad-expired", [SIGNING_USAGE, *REVOCATION_URLS], validity=_validity(EXPIRED_VALIDITY))
    leaf(
        "bad-revoked",
        [SIGNING_USAGE, *REVOCATION_URLS],
        revocation={"revoked-since": REVOKED_SINCE, "reason": "key_compromise"},
    )
    leaf("bad-keyusage", [_key_usage("key_encipherment"), *REVOCATION_URLS])

    def tsa_extensions() -> list[dict[str, Any]]:
        return [
            _key_usage("digital_signature", "non_repudiation"),
            {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]},
            *REVOCATION_URLS,
        ]

    leaf("tsa", tsa_extensions())
    leaf(
        REVOKED_TSA,
        tsa_extensions(),
        revocation={"revoked-since": TSA_REVOKED_SINCE, "reason": "key_compromise"},
    )
    leaf(
        "ocsp",
        [
            _key_usage("digital_signature"),
            {"id": "extended_key_usage", "critical": True, "value": ["ocsp_signing"]},
            {"id": "ocsp_no_check"},
        ],
    )
    certs["rogue-root"] = {
        **certs["vn-dev-root"],
        "subject": "rogue-root",
        "issuer": "rogue-root",
        "serial": _serial("rogue-root"),
    }
    # A forger copies everything visible, including the real revocation URLs.
    certs[ROGUE_AGENCY] = {
        **certs["agency-tpd"],
        "subject": ROGUE_AGENCY,
        "issuer": "rogue-root",
        "serial": _serial(ROGUE_AGENCY),
    }
    return certs


def build_config() -> dict[str, Any]:
    """The certomancer configuration of the development PKI, as a plain dict."""
    return {
        "external-url-prefix": DEV_SERVICES_URL,
        "keysets": {
            DEV_ARCH: {
                "path-prefix": "keys",
                "keys": {label: {"path": f"{label}.key.pem"} for label in key_types()},
            }
        },
        "pki-architectures": {
            DEV_ARCH: {
                "keyset": DEV_ARCH,
                "entities": _entities(),
                "certs": _certs(),
                "services": {
                    "ocsp": {
                        "ocsp": {
                            "for-issuer": "vn-dev-ca",
                            "responder-cert": "ocsp",
                            "signing-key": "ocsp",
                        }
                    },
                    "crl-repo": {
                        "ca": {
                            "for-issuer": "vn-dev-ca",
                            "signing-key": "vn-dev-ca",
                            "simulated-update-schedule": CRL_PERIOD,
                        },
                        "root": {
                            "for-issuer": "vn-dev-root",
                            "issuer-cert": "vn-dev-root",
                            "signing-key": "vn-dev-root",
                            "simulated-update-schedule": CRL_PERIOD,
                        },
                    },
                    "cert-repo": {
                        "root": {"for-issuer": "vn-dev-root", "issuer-cert": "vn-dev-root"},
                        "ca": {"for-issuer": "vn-dev-ca"},
                    },
                    "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"}},
                },
            }
        },
    }


def _ensure_keys(key_dir: Path, new_keys: bool) -> list[Path]:
    key_dir.mkdir(parents=True, exist_ok=True)
    created = []
    for label, kind in key_types().items():
        path = key_dir / f"{label}.key.pem"
        if path.exists() and not new_keys:
            continue
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if kind == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        created.append(path)
    return created


def _write_config(out_dir: Path) -> Path:
    header = (
        "# DEVELOPMENT ONLY. Written by certs/dev/generate.py; edit the generator, not this file.\n"
    )
    body = yaml.safe_dump(build_config(), allow_unicode=True, sort_keys=False, width=100)
    path = out_dir / DEV_CONFIG_FILE
    path.write_text(header + body, encoding="utf-8")
    return path


def _p12_holds(
    path: Path,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    leaf: x509.Certificate,
    chain: list[x509.Certificate],
) -> bool:
    try:
        old_key, old_leaf, old_chain = pkcs12.load_key_and_certificates(
            path.read_bytes(), DEV_PASSPHRASE.encode()
        )
    except (OSError, ValueError):
        return False
    return (
        old_key is not None
        and old_key.public_key() == key.public_key()
        and old_leaf == leaf
        and old_chain == chain
    )


def load_config(pki_dir: Path) -> CertomancerConfig:
    """Load the committed certomancer configuration with its keys."""
    return CertomancerConfig.from_file(
        str(pki_dir / DEV_CONFIG_FILE),
        key_search_dir=str(pki_dir),
        allow_external_config=False,
    )


def generate(
    out_dir: Path | str | None = None, *, new_keys: bool = False, at: datetime | None = None
) -> list[Path]:
    """Write keys (when missing or new_keys), config, certificates, P12 files and CRLs."""
    out = Path(out_dir) if out_dir is not None else HERE
    out.mkdir(parents=True, exist_ok=True)
    written = _ensure_keys(out / "keys", new_keys)
    written.append(_write_config(out))
    arch = load_config(out).get_pki_arch(DEV_ARCH)  # type: ignore[arg-type]

    for sub in ("certs", "p12", "crl"):
        (out / sub).mkdir(exist_ok=True)
    password = DEV_PASSPHRASE.encode()
    for label in key_types():
        cert_label = CertLabel(label)
        cert_der = arch.get_cert(cert_label).dump()
        cert_path = out / "certs" / f"{label}.cert.pem"
        cert_path.write_bytes(pem.armor("CERTIFICATE", cert_der))
        chain = [
            x509.load_der_x509_certificate(arch.get_cert(c).dump())
            for c in arch.get_chain(cert_label)
        ]
        # Our own keys: skipping RSA validation saves ~50 ms per key.
        key = serialization.load_pem_private_key(
            (out / "keys" / f"{label}.key.pem").read_bytes(),
            password=None,
            unsafe_skip_rsa_key_validation=True,
        )
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        p12_path = out / "p12" / f"{label}.p12"
        leaf = x509.load_der_x509_certificate(cert_der)
        written.append(cert_path)
        if _p12_holds(p12_path, key, leaf, chain):
            continue  # rewriting would only change the random salts
        p12_path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                name=label.encode(),
                key=key,
                cert=leaf,
                cas=chain,
                encryption_algorithm=serialization.BestAvailableEncryption(password),
            )
        )
        written.append(p12_path)

    when = at or datetime.now(tz=UTC)
    for repo, issuer in (("ca", "vn-dev-ca"), ("root", "vn-dev-root")):
        crl_der = arch.service_registry.get_crl(ServiceLabel(repo), when).dump()
        der_path = out / "crl" / f"{issuer}.crl"
        pem_path = out / "crl" / f"{issuer}.crl.pem"
        der_path.write_bytes(crl_der)
        pem_path.write_bytes(pem.armor("X509 CRL", crl_der))
        written += [der_path, pem_path]
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Generate the congvan DEVELOPMENT ONLY PKI.")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (certs/dev)")
    parser.add_argument("--new-keys", action="store_true", help="replace every existing key")
    args = parser.parse_args(argv)
    written = generate(args.out, new_keys=args.new_keys)
    print(f"wrote {len(written)} files under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
