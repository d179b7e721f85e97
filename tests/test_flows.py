"""The use cases end to end on both databases: draft, sign, issue, send, receive, answer."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from exchange.enums import DeliveryStatus, DocumentState, JobState
from exchange.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServiceUnavailableError,
    UnsupportedFileError,
    ValidationError,
)
from exchange.models import Delivery, Document, Job, Receipt, Register, StoredFile
from exchange.services import deliveries, documents, mailboxes, sending
from signer.receipts import verify_receipt
from tests.support.world import PIN, World

pytestmark = pytest.mark.usefixtures("dev_services")

LETTER = documents.DraftInput(
    document_type="Công văn",
    notation="UBND-VP",
    subject="Về việc đẩy mạnh cải cách hành chính năm 2026",
    urgency=1,
)


def _draft(world: World, session: Any, pdf: Path, **kwargs: Any) -> Document:
    with pdf.open("rb") as upload:
        return documents.create_document(
            session, world.runtime, world.actor("tpd.vanthu"), upload, LETTER, **kwargs
        )


def _issued(world: World, session: Any, pdf: Path) -> Document:
    document = _draft(world, session, pdf)
    documents.sign_document(
        session, world.runtime, world.actor("tpd.chutich"), document.public_id, pin=PIN
    )
    return documents.issue(session, world.runtime, world.actor("tpd.vanthu"), document.public_id)


def test_draft_sign_issue_send_receive_register(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        document = _issued(world, session, sample_pdf)
        assert document.state is DocumentState.ISSUED
        assert document.number == 1 and document.number_notation == "01/UBND-VP"
        sending.send(
            session, runtime, world.actor("tpd.vanthu"), document.public_id, groups=["cac-xa"]
        )
        public_id = document.public_id
    assert world.run_jobs() == 3
    with world.session_factory() as session:
        view = mailboxes.document_view(session, world.actor("tpd.vanthu"), public_id)
        assert [item["status"] for item in view["deliveries"]] == ["01", "01", "01"]
        assert view["overall"]["summary"] == "gửi 3 nơi: 3 đã đến"
        inbox = mailboxes.inbox(session, world.actor("tanthoi.vanthu"))
        assert [item["id"] for item in inbox] == [public_id]
        delivery_id = inbox[0]["delivery"]["id"]
        report = mailboxes.verification_report(session, world.actor("tanthoi.vanthu"), delivery_id)
        assert report["verdict"] == "passed"
        deliveries.change_status(
            session, runtime, world.actor("tanthoi.vanthu"), delivery_id, DeliveryStatus.REGISTERED
        )
        view = mailboxes.document_view(session, world.actor("tpd.vanthu"), public_id)
        statuses = {item["recipient"]["code"]: item for item in view["deliveries"]}
        assert statuses["DEV.TPD.X01"]["status"] == "03"
        assert statuses["DEV.TPD.X01"]["incoming_number"] == 1
        assert statuses["DEV.TPD.X02"]["status"] == "01"
        # Every receiver status left a receipt signed by the receiving agency.
        receipts = session.scalars(select(Receipt).order_by(Receipt.id)).all()
        assert [receipt.status for receipt in receipts] == ["01", "01", "01", "03"]
        check = verify_receipt(receipts[-1].cms, trust=runtime.trust)
        assert check.verdict == "passed", check.reason
        assert check.content is not None and check.content.receiver_code == "DEV.TPD.X01"
        assert check.content.document_sha256 == view["file_sha256"]


def test_the_whole_receiving_ladder_and_invalid_steps(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    clerk = world.actor("tanphu.vanthu")
    with world.session_factory() as session:
        document = _issued(world, session, sample_pdf)
        sending.send(
            session,
            runtime,
            world.actor("tpd.vanthu"),
            document.public_id,
            agencies=["DEV.TPD.X02"],
        )
    world.run_jobs()
    with world.session_factory() as session:
        delivery_id = mailboxes.inbox(session, clerk)[0]["delivery"]["id"]
        with pytest.raises(ConflictError):
            deliveries.change_status(
                session, runtime, clerk, delivery_id, DeliveryStatus.ASSIGNED, assigned_to="x"
            )
        for status in (DeliveryStatus.REGISTERED, DeliveryStatus.ASSIGNED):
            deliveries.change_status(
                session, runtime, clerk, delivery_id, status, assigned_to="Phòng Văn hóa"
            )
        deliveries.change_status(session, runtime, clerk, delivery_id, DeliveryStatus.IN_PROGRESS)
        deliveries.change_status(session, runtime, clerk, delivery_id, DeliveryStatus.COMPLETED)
        with pytest.raises(ConflictError):
            deliveries.change_status(
                session, runtime, clerk, delivery_id, DeliveryStatus.REGISTERED
            )
        history = mailboxes.delivery_view(session, clerk, delivery_id)["history"]
        assert [item["status"] for item in history] == ["pending", "01", "03", "04", "05", "06"]


def test_someone_elses_mailbox_and_roles(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        document = _issued(world, session, sample_pdf)
        sending.send(
            session,
            runtime,
            world.actor("tpd.vanthu"),
            document.public_id,
            agencies=["DEV.TPD.X01"],
        )
    world.run_jobs()
    with world.session_factory() as session:
        delivery_id = mailboxes.inbox(session, world.actor("tanthoi.vanthu"))[0]["delivery"]["id"]
        # Another commune's clerk cannot see or answer it, nor read the document.
        with pytest.raises(NotFoundError):
            deliveries.change_status(
                session,
                runtime,
                world.actor("tanphu.vanthu"),
                delivery_id,
                DeliveryStatus.REGISTERED,
            )
        with pytest.raises(NotFoundError):
            mailboxes.document_view(session, world.actor("tanphu.vanthu"), document.public_id)
        assert mailboxes.inbox(session, world.actor("tanphu.vanthu")) == []
        # An official does not register documents; a clerk does not sign.
        with pytest.raises(PermissionDeniedError):
            deliveries.change_status(
                session,
                runtime,
                world.actor("tanthoi.chutich"),
                delivery_id,
                DeliveryStatus.REGISTERED,
            )
        draft = _draft(world, session, sample_pdf)
        with pytest.raises(PermissionDeniedError):
            documents.sign_document(
                session, runtime, world.actor("tpd.vanthu"), draft.public_id, pin=PIN
            )
        # A commune's official cannot sign the district's draft.
        with pytest.raises(NotFoundError):
            documents.sign_document(
                session, runtime, world.actor("tanthoi.chutich"), draft.public_id, pin=PIN
            )


def test_bad_uploads_leave_nothing_behind(world: World, sample_pdf: Path, tmp_path: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    encrypted = tmp_path / "encrypted.pdf"
    with sample_pdf.open("rb") as handle:
        writer = copy_into_new_writer(PdfFileReader(handle))
        writer.encrypt("owner", "user")
        with encrypted.open("wb") as out:
            writer.write(out)
    clerk = world.actor("tpd.vanthu")
    with world.session_factory() as session:
        with pytest.raises(UnsupportedFileError, match="không phải PDF"):
            documents.create_document(
                session, world.runtime, clerk, io.BytesIO(b"GIF89a not a pdf"), LETTER
            )
        # A password to open it: the file field is what to change (422), never a 500.
        with pytest.raises(ValidationError, match="mật khẩu") as locked, encrypted.open("rb") as up:
            documents.create_document(session, world.runtime, clerk, up, LETTER)
        assert set(locked.value.errors) == {"file"}
        with pytest.raises(UnsupportedFileError):
            documents.create_document(
                session, world.runtime, clerk, io.BytesIO(b"%PDF-1.7\ngarbage"), LETTER
            )
        secret = documents.DraftInput("Công văn", "Kế hoạch", classification="Tối mật")
        with pytest.raises(ValidationError, match="tối mật"), sample_pdf.open("rb") as upload:
            documents.create_document(session, world.runtime, clerk, upload, secret)
        with pytest.raises(ValidationError) as caught, sample_pdf.open("rb") as upload:
            documents.create_document(
                session, world.runtime, clerk, upload, documents.DraftInput("", "", urgency=9)
            )
        assert set(caught.value.errors) == {"document_type", "subject", "urgency"}
        assert session.scalar(select(func.count()).select_from(Document)) == 0
    small = world.with_settings(max_upload_bytes=1000)
    with (
        world.session_factory() as session,
        pytest.raises(PayloadTooLargeError),
        sample_pdf.open("rb") as upload,
    ):
        documents.create_document(session, small.runtime, clerk, upload, LETTER)


def test_wrong_pin_leaves_the_draft_unsigned(world: World, sample_pdf: Path) -> None:
    with world.session_factory() as session:
        draft = _draft(world, session, sample_pdf)
        with pytest.raises(ValidationError) as caught:
            documents.sign_document(
                session, world.runtime, world.actor("tpd.chutich"), draft.public_id, pin="sai"
            )
        assert "pin" in caught.value.errors
        session.rollback()
        assert session.get(Document, draft.id).state is DocumentState.DRAFT  # type: ignore[union-attr]


def test_a_failed_issue_gives_its_number_back(
    world: World, sample_pdf: Path, tmp_path: Path
) -> None:
    # The timestamping service is down (nothing listens there): signing fails after the number
    # was taken; the transaction rolls back and the register keeps no gap.
    down = world.with_settings(tsa_url="http://127.0.0.1:9")
    with world.session_factory() as session:
        draft = _draft(world, session, sample_pdf)
        documents.sign_document(
            session, world.runtime, world.actor("tpd.chutich"), draft.public_id, pin=PIN
        )
        with pytest.raises(ServiceUnavailableError):
            documents.issue(session, down.runtime, world.actor("tpd.vanthu"), draft.public_id)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Register)) == 0
        issued = documents.issue(session, world.runtime, world.actor("tpd.vanthu"), draft.public_id)
        assert issued.number == 1


def test_idempotency_key_gives_one_document(world: World, sample_pdf: Path) -> None:
    with world.session_factory() as session:
        first = _draft(world, session, sample_pdf, idempotency_key="dms-42")
        second = _draft(world, session, sample_pdf, idempotency_key="dms-42")
        assert first.public_id == second.public_id
        assert session.scalar(select(func.count()).select_from(Document)) == 1


def _forge(issued: bytes) -> bytes:
    """Content changed after signing: page 1 gets other text in a later revision."""
    from tests.support.attacks import replace_page_content

    return replace_page_content(issued)


def test_a_forged_copy_is_refused_with_the_reason(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        genuine = _issued(world, session, sample_pdf)
        signed = runtime.store.local_path(genuine.current_file).read_bytes()
    forged = _forge(signed)
    assert forged != signed
    with world.session_factory() as session:
        document = documents.create_document(
            session,
            runtime,
            world.actor("tpd.vanthu"),
            io.BytesIO(forged),
            documents.DraftInput("Công văn", "Bản giả mạo", notation="01/UBND-VP"),
            issued_elsewhere=True,
        )
        sending.send(
            session, runtime, world.actor("tpd.vanthu"), document.public_id, groups=["cac-xa"]
        )
        public_id = document.public_id
    world.run_jobs()
    with world.session_factory() as session:
        view = mailboxes.document_view(session, world.actor("tpd.vanthu"), public_id)
        assert {item["status"] for item in view["deliveries"]} == {"02"}
        reason = view["deliveries"][0]["reason"]
        assert reason.startswith("Văn bản không qua kiểm tra chữ ký số")
        assert "sửa" in reason or "thay đổi" in reason, reason
        assert (
            mailboxes.inbox(session, world.actor("tanthoi.vanthu"))[0]["delivery"]["status"] == "02"
        )


def test_a_commune_cannot_pass_off_the_districts_document_as_its_own(
    world: World, sample_pdf: Path
) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        genuine = _issued(world, session, sample_pdf)
        signed = runtime.store.local_path(genuine.current_file).read_bytes()
        document = documents.create_document(
            session,
            runtime,
            world.actor("tanthoi.vanthu"),
            io.BytesIO(signed),
            documents.DraftInput("Công văn", "Chuyển tiếp", notation="01/UBND-VP"),
            issued_elsewhere=True,
        )
        sending.send(
            session,
            runtime,
            world.actor("tanthoi.vanthu"),
            document.public_id,
            agencies=["DEV.TPD.X02"],
        )
    world.run_jobs()
    with world.session_factory() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status is DeliveryStatus.REFUSED
        assert "không phải của cơ quan gửi" in (delivery.reason or "")


def test_recall_accepted_and_refused(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        document = _issued(world, session, sample_pdf)
        sending.send(
            session, runtime, world.actor("tpd.vanthu"), document.public_id, groups=["cac-xa"]
        )
    world.run_jobs()
    with world.session_factory() as session:
        sending.recall(
            session, runtime, world.actor("tpd.vanthu"), document.public_id, reason="Sai trích yếu"
        )
        first = mailboxes.inbox(session, world.actor("tanthoi.vanthu"))[0]["delivery"]
        assert first["status"] == "13"
        deliveries.answer_recall(
            session, runtime, world.actor("tanthoi.vanthu"), first["id"], accept=True
        )
        second = mailboxes.inbox(session, world.actor("tanphu.vanthu"))[0]["delivery"]
        with pytest.raises(ValidationError):
            deliveries.answer_recall(
                session, runtime, world.actor("tanphu.vanthu"), second["id"], accept=False
            )
        deliveries.answer_recall(
            session,
            runtime,
            world.actor("tanphu.vanthu"),
            second["id"],
            accept=False,
            reason="Đã triển khai",
        )
        # Given back: out of the working inbox, still in the evidence.
        assert mailboxes.inbox(session, world.actor("tanthoi.vanthu")) == []
        kept = mailboxes.inbox(session, world.actor("tanthoi.vanthu"), include_hidden=True)
        assert kept[0]["delivery"]["status"] == "15"
        # Having kept it, Tân Phú goes on with its work.
        deliveries.change_status(
            session, runtime, world.actor("tanphu.vanthu"), second["id"], DeliveryStatus.REGISTERED
        )
        view = mailboxes.document_view(session, world.actor("tpd.vanthu"), document.public_id)
        assert sorted(item["status"] for item in view["deliveries"]) == ["03", "13", "15"]


def test_sending_twice_adds_nobody_and_jobs_are_done(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        document = _issued(world, session, sample_pdf)
        for _ in range(2):
            sending.send(
                session, runtime, world.actor("tpd.vanthu"), document.public_id, groups=["cac-xa"]
            )
        with pytest.raises(ValidationError):
            sending.send(
                session,
                runtime,
                world.actor("tpd.vanthu"),
                document.public_id,
                agencies=["NO.SUCH"],
            )
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Delivery)) == 3
    assert world.run_jobs() == 3
    with world.session_factory() as session:
        states = session.scalars(select(Job.state)).all()
        assert states == [JobState.DONE] * 3


def _files_in_store(world: World) -> int:
    root = world.runtime.settings.effective_storage_dir
    return sum(1 for path in root.rglob("*") if path.is_file() and path.parent.name != "tmp")


def test_a_fan_out_stores_the_file_once(world: World, sample_pdf: Path) -> None:
    with world.session_factory() as session:
        document = _issued(world, session, sample_pdf)
        before = _files_in_store(world)
        sending.send(
            session, world.runtime, world.actor("tpd.vanthu"), document.public_id, groups=["cac-xa"]
        )
    world.run_jobs()
    # Three mailboxes, no new file: each delivery refers to the issued file by its SHA-256.
    assert _files_in_store(world) == before == 4  # original, prepared, signed, issued


def test_replies_and_replacements_link_to_their_documents(world: World, sample_pdf: Path) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        original = _issued(world, session, sample_pdf)
        sending.send(
            session,
            runtime,
            world.actor("tpd.vanthu"),
            original.public_id,
            agencies=["DEV.TPD.X01"],
        )
        with sample_pdf.open("rb") as upload:
            replacement = documents.create_document(
                session,
                runtime,
                world.actor("tpd.vanthu"),
                upload,
                documents.DraftInput(
                    "Công văn",
                    "Thay thế công văn trước",
                    notation="UBND-VP",
                    supersedes=original.public_id,
                    business_type=3,
                ),
            )
        with sample_pdf.open("rb") as upload:
            reply = documents.create_document(
                session,
                runtime,
                world.actor("tanthoi.vanthu"),
                upload,
                documents.DraftInput("Báo cáo", "Trả lời công văn", reply_to=original.public_id),
            )
        view = mailboxes.document_view(session, world.actor("tpd.vanthu"), replacement.public_id)
        assert view["supersedes"] == original.public_id and view["business_type"] == 3
        own = mailboxes.document_view(session, world.actor("tanthoi.vanthu"), reply.public_id)
        assert own["reply_to"] == original.public_id
        # A commune that never received a document cannot answer or replace it.
        with pytest.raises(ValidationError), sample_pdf.open("rb") as upload:
            documents.create_document(
                session,
                runtime,
                world.actor("tanphu.vanthu"),
                upload,
                documents.DraftInput("Báo cáo", "Trả lời", reply_to=original.public_id),
            )
        with pytest.raises(ValidationError), sample_pdf.open("rb") as upload:
            documents.create_document(
                session,
                runtime,
                world.actor("tanthoi.vanthu"),
                upload,
                documents.DraftInput(
                    "Công văn", "Thay thế", supersedes=original.public_id, business_type=3
                ),
            )


def test_a_draft_without_blanks_for_number_and_date_is_refused(
    world: World, tmp_path: Path
) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    blank = tmp_path / "trang-trang.pdf"
    writer = PdfFileWriter()
    size = [generic.NumberObject(value) for value in (0, 0, 595, 842)]
    writer.insert_page(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/MediaBox"): generic.ArrayObject(size),
            }
        )
    )
    with blank.open("wb") as out:
        writer.write(out)
    with world.session_factory() as session, blank.open("rb") as upload:
        with pytest.raises(ValidationError) as caught:
            documents.create_document(
                session, world.runtime, world.actor("tpd.vanthu"), upload, LETTER
            )
        assert "file" in caught.value.errors
        assert "Số:" in caught.value.detail


def test_overlong_metadata_is_a_field_error(world: World, sample_pdf: Path) -> None:
    data = documents.DraftInput("C" * 65, "Trích yếu", signer_title="T" * 256)
    with (
        world.session_factory() as session,
        sample_pdf.open("rb") as upload,
        pytest.raises(ValidationError) as caught,
    ):
        documents.create_document(session, world.runtime, world.actor("tpd.vanthu"), upload, data)
    assert set(caught.value.errors) == {"document_type", "signer_title"}


def test_the_same_file_uploaded_at_once_by_several_clerks(world: World, sample_pdf: Path) -> None:
    import threading

    data = sample_pdf.read_bytes()
    barrier = threading.Barrier(4)
    made: list[str] = []
    failures: list[BaseException] = []

    def upload(username: str) -> None:
        try:
            with world.session_factory() as session:
                barrier.wait(timeout=30)
                document = documents.create_document(
                    session, world.runtime, world.actor(username), io.BytesIO(data), LETTER
                )
                made.append(document.public_id)
        except BaseException as error:
            failures.append(error)

    names = ["tpd.vanthu", "tanthoi.vanthu", "tanphu.vanthu", "phuthanh.vanthu"]
    threads = [threading.Thread(target=upload, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(made) == 4
    with world.session_factory() as session:
        # The uploaded bytes are one file; each draft prepared from them is its own.
        originals = set(session.scalars(select(Document.original_file)))
        assert len(originals) == 1
        assert session.scalar(select(func.count()).select_from(StoredFile)) == 1 + 4
        assert session.scalar(select(func.count()).select_from(Document)) == 4


def test_the_same_idempotency_key_at_once_gives_one_document(
    world: World, sample_pdf: Path
) -> None:
    import threading

    data = sample_pdf.read_bytes()
    barrier = threading.Barrier(4)
    made: list[str] = []
    failures: list[BaseException] = []

    def upload() -> None:
        try:
            with world.session_factory() as session:
                barrier.wait(timeout=30)
                document = documents.create_document(
                    session,
                    world.runtime,
                    world.actor("tpd.vanthu"),
                    io.BytesIO(data),
                    LETTER,
                    idempotency_key="dms-retry-storm",
                )
                made.append(document.public_id)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(made) == 4 and len(set(made)) == 1
