"""A small exchange for use-case tests: the district, three communes, their people and keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy.orm import Session, sessionmaker

from exchange.actors import Actor
from exchange.config import Settings
from exchange.enums import Role
from exchange.jobs import Worker
from exchange.models import Agency, AgencyCertificate, AgencyGroup, Membership, User
from exchange.runtime import Runtime, make_runtime
from signer.appearance import dev_image_path
from signer.devpki import dev_cert_path, dev_p12_path

AGENCIES = {
    "tpd": ("DEV.TPD.000", "Ủy ban nhân dân huyện Tân Phú Đông", None),
    "tanthoi": ("DEV.TPD.X01", "Ủy ban nhân dân xã Tân Thới", "tpd"),
    "tanphu": ("DEV.TPD.X02", "Ủy ban nhân dân xã Tân Phú", "tpd"),
    "phuthanh": ("DEV.TPD.X03", "Ủy ban nhân dân xã Phú Thạnh", "tpd"),
}
PIN = "congvan-dev"


@dataclass
class World:
    runtime: Runtime
    session_factory: sessionmaker[Session]
    agencies: dict[str, Agency] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)

    def with_settings(self, **settings: Any) -> World:
        """The same agencies and people, with a service configured otherwise.

        The development services stay where they were (unless `settings` says otherwise).
        """
        data_dir = self.runtime.settings.data_dir
        settings.setdefault("dev_services_url", self.runtime.settings.dev_services_url)
        runtime = make_runtime(Settings(data_dir=data_dir, **settings))
        return World(runtime, self.session_factory, self.agencies, self.actors)

    def actor(self, name: str) -> Actor:
        return self.actors[name]

    def run_jobs(self) -> int:
        """Run every due job to the end, as the worker would; the number of jobs run."""
        from exchange.job_handlers import job_handlers

        worker = Worker(self.session_factory, job_handlers(self.runtime), worker_id="test")
        count = 0
        while worker.run_once():
            count += 1
        return count


def _certificate_row(label: str) -> AgencyCertificate:
    certificate = x509.load_pem_x509_certificate(Path(dev_cert_path(label)).read_bytes())
    from cryptography.hazmat.primitives.serialization import Encoding

    der = certificate.public_bytes(Encoding.DER)
    return AgencyCertificate(
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        subject=certificate.subject.rfc4514_string(),
        not_after=certificate.not_valid_after_utc,
        der=der,
    )


def build_world(
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    runtime: Runtime | None = None,
    **settings: Any,
) -> World:
    """The agencies and people in the database; the service's runtime, or one under tmp_path."""
    runtime = runtime or make_runtime(Settings(data_dir=tmp_path / "data", **settings))
    world = World(runtime=runtime, session_factory=session_factory)
    with session_factory() as session:
        for suffix, (code, name, parent) in AGENCIES.items():
            agency = Agency(
                code=code,
                name=name,
                parent=world.agencies[parent] if parent else None,
                credential=str(dev_p12_path(f"agency-{suffix}")),
                seal_image=str(dev_image_path(f"agency-{suffix}")),
            )
            agency.certificates.append(_certificate_row(f"agency-{suffix}"))
            session.add(agency)
            world.agencies[suffix] = agency
            for role, who in ((Role.OFFICIAL, "chutich"), (Role.CLERK, "vanthu")):
                user = User(
                    username=f"{suffix}.{who}",
                    full_name=f"Người {who} {suffix}",
                    title="Chủ tịch" if who == "chutich" else "Văn thư",
                    password_hash="!",  # never logs in: these tests act through use cases
                    credential=str(dev_p12_path(f"official-{suffix}-{who}")),
                    signature_image=str(dev_image_path(f"official-{suffix}-{who}")),
                )
                user.memberships.append(Membership(agency=agency, role=role))
                session.add(user)
        communes = [world.agencies[name] for name in ("tanthoi", "tanphu", "phuthanh")]
        session.add(AgencyGroup(code="cac-xa", name="Các xã", members=communes))
        session.commit()
        for user in session.query(User):
            membership = user.memberships[0]
            world.actors[user.username] = Actor(
                user_id=user.id,
                username=user.username,
                agency_id=membership.agency_id,
                agency_code=membership.agency.code,
                roles=frozenset({membership.role}),
                remote_addr="127.0.0.1",
            )
    return world
