"""The job table: which handler the worker runs for each kind of background job."""

from __future__ import annotations

from exchange.jobs import Handler, PreparedHandler
from exchange.runtime import Runtime
from exchange.services.deliveries import judge_delivery, record_judgement
from exchange.services.sending import VERIFY_DELIVERY


def job_handlers(runtime: Runtime) -> dict[str, Handler]:
    return {
        VERIFY_DELIVERY: PreparedHandler(
            prepare=lambda sessions, payload: judge_delivery(sessions, runtime, payload),
            apply=lambda session, payload, judgement: record_judgement(
                session, runtime, payload, judgement
            ),
        )
    }
