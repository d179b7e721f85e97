"""Where congvan's HTTP requests to trust services go: OCSP, CRLs, issuer certificates, the TSA.

In development mode the development services may run somewhere other than the built-in address
the development certificates name (http://127.0.0.1:8790, see signer.devpki): another run holds
the port, or a test run started its own services on a free one. The caller says where they are
(a `DevServices`). Every request to the built-in address then goes there, and nothing else changes:
pyhanko-certvalidator's own aiohttp fetchers do the work, handed a session that moves those URLs.
In production nothing is moved.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, cast

import aiohttp
from pyhanko_certvalidator.fetchers import FetcherBackend, OwnedFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession

from signer.devpki import BUILT_IN_DEV_SERVICES, DevServices

DEFAULT_TIMEOUT_SECONDS = 10.0


def relocation_active(development: bool, dev_services: DevServices = BUILT_IN_DEV_SERVICES) -> bool:
    """True when requests to the built-in development address must go elsewhere."""
    return development and dev_services.moved


def service_url(
    url: str, *, development: bool, dev_services: DevServices = BUILT_IN_DEV_SERVICES
) -> str:
    """The URL to contact for `url`: moved to the running development services when needed."""
    return dev_services.relocate(url) if relocation_active(development, dev_services) else url


class _Request:
    """`session.get(...)`/`session.post(...)` used as `async with`, on a lazily made session."""

    def __init__(self, lazy: LazySession, method: str, url: str, kwargs: dict[str, Any]) -> None:
        self._lazy = lazy
        self._method = method
        self._url = url
        self._kwargs = kwargs
        self._manager: Any = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        session = self._lazy.get_session()  # type: ignore[no-untyped-call]
        self._manager = session.request(self._method, self._url, **self._kwargs)
        return cast(aiohttp.ClientResponse, await self._manager.__aenter__())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._manager.__aexit__(exc_type, exc, traceback)


class _RelocatingSession:
    """The part of aiohttp.ClientSession the fetchers use, moving development URLs."""

    def __init__(self, dev_services: DevServices) -> None:
        self._lazy = LazySession()  # type: ignore[no-untyped-call]
        self._dev_services = dev_services

    def get(self, url: str, **kwargs: Any) -> _Request:
        return _Request(self._lazy, "GET", self._dev_services.relocate(str(url)), kwargs)

    def post(self, url: str, **kwargs: Any) -> _Request:
        return _Request(self._lazy, "POST", self._dev_services.relocate(str(url)), kwargs)

    async def close(self) -> None:
        await self._lazy.close()  # type: ignore[no-untyped-call]


class _RelocatingFetcherBackend(AIOHttpFetcherBackend):
    """pyhanko-certvalidator's aiohttp backend on a session that moves development URLs."""

    def __init__(self, timeout: float, dev_services: DevServices) -> None:
        super().__init__(
            session=cast(aiohttp.ClientSession, _RelocatingSession(dev_services)),
            per_request_timeout=timeout,
        )

    async def close(self) -> None:
        # The base class closes only its own LazySession; this session is ours to close.
        await cast(_RelocatingSession, self.session).close()


def fetcher_backend(
    *,
    development: bool,
    dev_services: DevServices = BUILT_IN_DEV_SERVICES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> OwnedFetcherBackend:
    """A fetcher backend for one validation context, which closes it (aclose) when done."""
    backend: FetcherBackend
    if relocation_active(development, dev_services):
        backend = _RelocatingFetcherBackend(timeout, dev_services)
    else:
        backend = AIOHttpFetcherBackend(per_request_timeout=timeout)
    return OwnedFetcherBackend(backend)
