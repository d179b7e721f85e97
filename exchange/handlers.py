"""The background jobs the worker runs, by kind."""

from __future__ import annotations

from exchange.jobs import Handler
from exchange.runtime import Runtime
from exchange.services.deliveries import verify_delivery
from exchange.services.sending import VERIFY_DELIVERY


def job_handlers(runtime: Runtime) -> dict[str, Handler]:
    return {VERIFY_DELIVERY: lambda session, payload: verify_delivery(session, runtime, payload)}
