"""The service signs with keys on a PKCS#11 token (SoftHSM2): the official's and the agency's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exchange.enums import DeliveryStatus
from exchange.errors import ValidationError
from exchange.models import Agency, User
from exchange.services import documents, mailboxes, sending
from tests.support.softhsm import EC_LABEL, RSA_LABEL, USER_PIN, token_uri
from tests.support.world import World, build_world

pytestmark = pytest.mark.usefixtures("dev_services")

PIN_VARIABLE = "CONGVAN_TEST_AGENCY_TOKEN_PIN"


@pytest.fixture
def world(
    session_factory: Any,
    tmp_path: Path,
    softhsm: str,
    dev_services: str,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    monkeypatch.setenv(PIN_VARIABLE, USER_PIN)
    world = build_world(
        session_factory, tmp_path, pkcs11_module=softhsm, dev_services_url=dev_services
    )
    with session_factory() as session:
        official = session.scalars(select(User).where(User.username == "tpd.chutich")).one()
        official.credential = token_uri(EC_LABEL)  # the ECDSA key of the district's official
        agency = session.scalars(select(Agency).where(Agency.code == "DEV.TPD.000")).one()
        agency.credential = token_uri(RSA_LABEL)  # the district's agency key
        agency.credential_pin_env = PIN_VARIABLE
        session.commit()
    return world


def test_sign_and_issue_with_token_keys(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    with world.session_factory() as session, sample_pdf.open("rb") as upload:
        draft = documents.create_document(
            session,
            runtime,
            world.actor("tpd.vanthu"),
            upload,
            documents.DraftInput("Công văn", "Ký bằng token", notation="UBND-VP"),
        )
        with pytest.raises(ValidationError) as caught:
            documents.sign_document(
                session, runtime, world.actor("tpd.chutich"), draft.public_id, pin="000000"
            )
        assert "pin" in caught.value.errors
        session.rollback()
        documents.sign_document(
            session, runtime, world.actor("tpd.chutich"), draft.public_id, pin=USER_PIN
        )
        issued = documents.issue(session, runtime, world.actor("tpd.vanthu"), draft.public_id)
        assert issued.number == 1
        sending.send(
            session, runtime, world.actor("tpd.vanthu"), draft.public_id, agencies=["DEV.TPD.X01"]
        )
    world.run_jobs()
    with world.session_factory() as session:
        view = mailboxes.document_view(session, world.actor("tpd.vanthu"), draft.public_id)
        assert [item["status"] for item in view["deliveries"]] == [DeliveryStatus.ARRIVED.value]
        assert [item["kind"] for item in view["signatures"]] == ["official", "agency"]
        report = mailboxes.verification_report(
            session, world.actor("tanthoi.vanthu"), view["deliveries"][0]["id"]
        )
        assert report["verdict"] == "passed"
        names = [item["signer"]["common_name"] for item in report["signatures"]]
        assert len(names) == 2 and "Tân Phú Đông" in names[1]
