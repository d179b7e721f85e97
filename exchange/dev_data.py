"""The development data set (DEVELOPMENT ONLY): Tân Phú Đông's agencies, groups and accounts.

What `congvan dev-data load` and `congvan serve` (in development) load. Names, codes and titles
match the development certificates in certs/dev (certomancer.yml), so a document signed with
`agency-tanthoi.p12` comes from the agency the directory calls DEV.TPD.X01. Every user's
password is `congvan-dev` (documented in the README). Loading twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange import audit
from exchange.actors import SYSTEM
from exchange.enums import Role
from exchange.errors import ConfigurationError
from exchange.models import Agency, AgencyCertificate, AgencyGroup, AgencyGroupMember, User
from exchange.runtime import Runtime
from exchange.services.directory import certificate_row
from exchange.services.users import add_membership, hash_password
from signer.appearance import dev_image_path
from signer.devpki import dev_cert_path, dev_p12_path

DEV_PASSWORD = "congvan-dev"
DISTRICT = "DEV.TPD.000"


@dataclass(frozen=True)
class DevOfficial:
    role_suffix: str  # chutich | phochutich | vanthu
    full_name: str
    title: str


@dataclass(frozen=True)
class DevAgency:
    suffix: str  # the certificate labels' suffix: agency-<suffix>, official-<suffix>-<role>
    code: str
    name: str
    officials: tuple[DevOfficial, ...] = ()
    clerk_name: str = ""  # an office's clerk, who has no personal certificate
    admin_name: str = ""


def _officials(chair: str, vice: str, clerk: str) -> tuple[DevOfficial, ...]:
    return (
        DevOfficial("chutich", chair, "Chủ tịch"),
        DevOfficial("phochutich", vice, "Phó Chủ tịch"),
        DevOfficial("vanthu", clerk, "Văn thư"),
    )


# Common names and titles as in certs/dev/certomancer.yml; the admins' names are invented here.
DEV_AGENCIES: tuple[DevAgency, ...] = (
    DevAgency(
        "tpd",
        DISTRICT,
        "Ủy ban nhân dân huyện Tân Phú Đông",
        _officials("Nguyễn Văn Bình", "Trần Thị Hồng Nhung", "Lê Thị Mỹ Duyên"),
        admin_name="Nguyễn Hoàng Quân",
    ),
    DevAgency(
        "tanthoi",
        "DEV.TPD.X01",
        "Ủy ban nhân dân xã Tân Thới",
        _officials("Phạm Văn Hậu", "Huỳnh Thị Thu Trang", "Võ Minh Tâm"),
        admin_name="Trần Quốc Bảo",
    ),
    DevAgency(
        "tanphu",
        "DEV.TPD.X02",
        "Ủy ban nhân dân xã Tân Phú",
        _officials("Đặng Văn Lộc", "Bùi Thị Ngọc Ánh", "Đỗ Thành Công"),
        admin_name="Lê Minh Khoa",
    ),
    DevAgency(
        "phuthanh",
        "DEV.TPD.X03",
        "Ủy ban nhân dân xã Phú Thạnh",
        _officials("Hồ Văn Khải", "Ngô Thị Kim Loan", "Dương Quốc Việt"),
        admin_name="Phạm Thị Thanh Thảo",
    ),
    DevAgency(
        "phudong",
        "DEV.TPD.X04",
        "Ủy ban nhân dân xã Phú Đông",
        _officials("Lý Văn Sáu", "Trương Thị Bích Ngọc", "Mai Hoàng Phúc"),
        admin_name="Võ Văn Toàn",
    ),
    DevAgency(
        "phutan",
        "DEV.TPD.X05",
        "Ủy ban nhân dân xã Phú Tân",
        _officials("Phan Văn Thắng", "Châu Thị Diễm My", "Lâm Thanh Tùng"),
        admin_name="Huỳnh Ngọc Hân",
    ),
    DevAgency(
        "tanthanh",
        "DEV.TPD.X06",
        "Ủy ban nhân dân xã Tân Thạnh",
        _officials("Tô Văn Hiếu", "Cao Thị Thanh Hương", "Đinh Công Khanh"),
        admin_name="Đoàn Văn Lợi",
    ),
    DevAgency(
        "vp",
        "DEV.TPD.P01",
        "Văn phòng HĐND và UBND huyện Tân Phú Đông",
        clerk_name="Nguyễn Thị Kiều Oanh",
        admin_name="Trịnh Văn Nam",
    ),
    DevAgency(
        "tckh",
        "DEV.TPD.P02",
        "Phòng Tài chính - Kế hoạch huyện Tân Phú Đông",
        clerk_name="Lương Thị Mai",
        admin_name="Hà Văn Đức",
    ),
    DevAgency(
        "noivu",
        "DEV.TPD.P03",
        "Phòng Nội vụ huyện Tân Phú Đông",
        clerk_name="Kiều Thị Phương",
        admin_name="Tạ Quang Vinh",
    ),
)

COMMUNES = tuple(a for a in DEV_AGENCIES if a.code.startswith("DEV.TPD.X"))
OFFICES = tuple(a for a in DEV_AGENCIES if a.code.startswith("DEV.TPD.P"))
DEV_GROUPS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("cac-xa", "Các xã thuộc huyện Tân Phú Đông", tuple(a.code for a in COMMUNES)),
    ("cac-phong", "Các phòng, văn phòng thuộc huyện Tân Phú Đông", tuple(a.code for a in OFFICES)),
    ("truc-thuoc-huyen", "Các cơ quan trực thuộc UBND huyện Tân Phú Đông", None),
)


@dataclass(frozen=True)
class DevUser:
    username: str
    full_name: str
    title: str
    agency_code: str
    role: Role
    credential_label: str | None  # official-<suffix>-<role>, when a certificate exists


def dev_users() -> list[DevUser]:
    """Every development user, agency by agency."""
    users: list[DevUser] = []
    for agency in DEV_AGENCIES:
        for official in agency.officials:
            role = Role.CLERK if official.role_suffix == "vanthu" else Role.OFFICIAL
            users.append(
                DevUser(
                    f"{agency.suffix}.{official.role_suffix}",
                    official.full_name,
                    official.title,
                    agency.code,
                    role,
                    f"official-{agency.suffix}-{official.role_suffix}",
                )
            )
        if agency.clerk_name:
            users.append(
                DevUser(
                    f"{agency.suffix}.vanthu",
                    agency.clerk_name,
                    "Văn thư",
                    agency.code,
                    Role.CLERK,
                    None,
                )
            )
        users.append(
            DevUser(
                f"{agency.suffix}.admin",
                agency.admin_name,
                "Quản trị hệ thống",
                agency.code,
                Role.ADMIN,
                None,
            )
        )
    return users


@dataclass
class LoadSummary:
    """What one load added (all zero when the data set was already there)."""

    agencies: int = 0
    certificates: int = 0
    groups: int = 0
    users: int = 0
    memberships: int = 0
    added: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.agencies or self.certificates or self.groups or self.users)


def load_dev_data(session: Session, runtime: Runtime) -> LoadSummary:
    """Add whatever of the development data set is missing; refused outside development mode."""
    if not runtime.settings.development:
        raise ConfigurationError("dữ liệu phát triển chỉ được nạp ở chế độ development")
    summary = LoadSummary()
    pki_dir = runtime.settings.effective_dev_pki_dir
    agencies = _load_agencies(session, summary, pki_dir)
    _load_groups(session, agencies, summary)
    _load_users(session, agencies, summary, pki_dir)
    if summary.changed or summary.memberships:
        audit.record(
            session,
            "dev_data.load",
            actor=SYSTEM,
            details={
                "agencies": summary.agencies,
                "certificates": summary.certificates,
                "groups": summary.groups,
                "users": summary.users,
                "memberships": summary.memberships,
            },
        )
    session.commit()
    return summary


def _load_agencies(session: Session, summary: LoadSummary, pki_dir: Path) -> dict[str, Agency]:
    existing = {
        agency.code: agency
        for agency in session.scalars(
            select(Agency).where(Agency.code.in_([a.code for a in DEV_AGENCIES]))
        )
    }
    district = None
    for spec in DEV_AGENCIES:
        agency = existing.get(spec.code)
        if agency is None:
            agency = Agency(
                code=spec.code,
                name=spec.name,
                contact="",
                parent_id=district.id if district is not None else None,
                active=True,
            )
            session.add(agency)
            existing[spec.code] = agency
            summary.agencies += 1
        # Paths are refreshed on every load: they follow the checkout if it moves.
        agency.credential = str(dev_p12_path(f"agency-{spec.suffix}", pki_dir=pki_dir))
        agency.credential_pin_env = None  # development mode unlocks dev keys with congvan-dev
        agency.seal_image = str(dev_image_path(f"agency-{spec.suffix}", pki_dir=pki_dir))
        session.flush()
        if district is None:
            district = agency
        row = certificate_row(
            agency, dev_cert_path(f"agency-{spec.suffix}", pki_dir=pki_dir).read_bytes()
        )
        if (
            session.scalar(
                select(AgencyCertificate.id).where(AgencyCertificate.sha256 == row.sha256)
            )
            is None
        ):
            session.add(row)
            summary.certificates += 1
    session.flush()
    return existing


def _load_groups(session: Session, agencies: dict[str, Agency], summary: LoadSummary) -> None:
    for code, name, members in DEV_GROUPS:
        if session.scalar(select(AgencyGroup.id).where(AgencyGroup.code == code)) is not None:
            continue
        group = AgencyGroup(
            code=code,
            name=name,
            children_of_id=agencies[DISTRICT].id if members is None else None,
        )
        session.add(group)
        session.flush()
        for member in members or ():
            session.add(AgencyGroupMember(group_id=group.id, agency_id=agencies[member].id))
        summary.groups += 1
    session.flush()


def _load_users(
    session: Session, agencies: dict[str, Agency], summary: LoadSummary, pki_dir: Path
) -> None:
    specs = dev_users()
    existing = {
        user.username: user
        for user in session.scalars(
            select(User).where(User.username.in_([s.username for s in specs]))
        )
    }
    password_hash: str | None = None
    for spec in specs:
        user = existing.get(spec.username)
        if user is None:
            # One hash for the one documented password: hashing 40 times would take seconds.
            password_hash = password_hash or hash_password(DEV_PASSWORD)
            user = User(
                username=spec.username,
                full_name=spec.full_name,
                title=spec.title,
                password_hash=password_hash,
                active=True,
            )
            session.add(user)
            summary.users += 1
        if spec.credential_label:
            user.credential = str(dev_p12_path(spec.credential_label, pki_dir=pki_dir))
            user.signature_image = str(dev_image_path(spec.credential_label, pki_dir=pki_dir))
        session.flush()
        if add_membership(session, user, agencies[spec.agency_code], spec.role):
            summary.memberships += 1
