"""What the use cases need besides a Session: settings, the file store, trust roots, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from exchange.config import Settings
from exchange.db import utcnow
from exchange.storage import FileStore, LocalFileStore
from signer.trust import TrustSettings, load_trust


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: FileStore
    trust: TrustSettings
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        return self.clock()


def make_runtime(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Runtime:
    """The runtime of a checked configuration: files under its storage folder, its trust roots."""
    store = LocalFileStore(settings.effective_storage_dir)
    trust = load_trust(
        settings.trust_roots,
        development=settings.development,
        dev_pki_dir=settings.effective_dev_pki_dir,
        dev_services=settings.dev_services,
    )
    return Runtime(settings=settings, store=store, trust=trust, clock=clock)
