"""Twenty clerks issue at once through the real issue flow: numbers stay unique and gap-free.

Five of them issue while their timestamping service is down: their signature fails after the
number was taken, their transaction rolls back and the number goes to someone else.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from exchange.errors import ServiceUnavailableError
from exchange.models import Document
from exchange.services import documents
from signer.fields import NUMBER_FIELD
from tests.support.world import PIN, World

pytestmark = [pytest.mark.usefixtures("dev_services"), pytest.mark.slow]

CLERKS = 20
FAILING = {3, 7, 11, 15, 19}


def _printed_number(path: Path) -> str:
    with path.open("rb") as handle:
        fields = PdfFileReader(handle).root["/AcroForm"]["/Fields"]
        for field in fields:
            field = field.get_object()
            if field.get("/T") == NUMBER_FIELD:
                return str(field["/V"])
    raise AssertionError("no number field")


def test_twenty_clerks_issue_at_once(world: World, sample_pdf: Path) -> None:
    runtime, down = world.runtime, world.with_settings(tsa_url="http://127.0.0.1:9").runtime
    drafts = []
    with world.session_factory() as session:
        for index in range(CLERKS):
            with sample_pdf.open("rb") as upload:
                draft = documents.create_document(
                    session,
                    runtime,
                    world.actor("tpd.vanthu"),
                    upload,
                    documents.DraftInput("Công văn", f"Văn bản thứ {index}", notation="UBND-VP"),
                )
            documents.sign_document(
                session, runtime, world.actor("tpd.chutich"), draft.public_id, pin=PIN
            )
            drafts.append(draft.public_id)

    barrier = threading.Barrier(CLERKS)
    numbers: dict[str, int] = {}
    refused: list[str] = []
    unexpected: list[BaseException] = []

    def issue(index: int, public_id: str) -> None:
        try:
            with world.session_factory() as session:
                barrier.wait(timeout=60)
                chosen = down if index in FAILING else runtime
                try:
                    document = documents.issue(
                        session, chosen, world.actor("tpd.vanthu"), public_id
                    )
                except ServiceUnavailableError:
                    refused.append(public_id)
                    return
                assert document.number is not None
                numbers[public_id] = document.number
        except BaseException as error:
            unexpected.append(error)

    threads = [
        threading.Thread(target=issue, args=(index, public_id))
        for index, public_id in enumerate(drafts)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not unexpected, unexpected
    assert len(refused) == len(FAILING)
    issued = CLERKS - len(FAILING)
    assert sorted(numbers.values()) == list(range(1, issued + 1))

    with world.session_factory() as session:
        for public_id, number in numbers.items():
            document = session.query(Document).filter_by(public_id=public_id).one()
            assert document.number == number and document.number_year is not None
            # The number the agency signature covers is the one the register gave.
            path = runtime.store.local_path(document.current_file)
            assert _printed_number(path) == f"{number:02d}"
