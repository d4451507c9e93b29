"""HTTP for bulletin: upstream feeds fetched, WebSub hubs pinged; the only user of requests.

Why requests: it is installed already (premailer requires it), it pools connections per host in
a ``Session``, and it streams a body so that its bytes can be counted as they arrive; httpx would
be a new dependency for the same. What it lacks is added here. It has no default timeout, and its
read timeout applies to each socket read, so a server dripping a byte a second holds a request
forever (feedparser has no timeout at all: kurtmckee/feedparser#76, #263). So every exchange has
a total deadline, after which a watchdog shuts its socket down wherever the exchange stands
(headers or body). Bodies are decoded here (gzip, deflate) and refused past ``Limits.max_bytes``
*decompressed* bytes, so a gzip bomb costs that much at most. Redirects are followed here, one hop
at a time, so their bodies are never read and each hop's status is known: a feed's move is only
remembered when every hop was permanent.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as _Urllib3Error

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """How long an exchange may take and how much it may bring."""

    connect: float = 10.0  # seconds to open the connection
    total: float = 30.0  # seconds for the whole exchange, redirects and body included
    max_bytes: int = 10 * 1024 * 1024  # of the body after decompression
    max_redirects: int = 10


@dataclass(frozen=True)
class Response:
    """An answer read whole: where it came from, its status, headers and decoded body."""

    url: str  # after redirects
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    hops: tuple[int, ...] = ()  # the status of each redirect followed, in order

    def header(self, name: str) -> str | None:
        """A header's value, or None."""
        return self.headers.get(name.lower())


class HttpError(Exception):
    """No usable answer: unreachable, too slow, too big, or not HTTP."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Exchange:
    """One exchange's deadline: when it passes, the sockets it uses are shut down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Exchange:
        _current.exchange = self
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            self._sockets.clear()
        _current.exchange = None

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        with self._lock:
            if self.expired:
                _shut(sock)
            elif not self._done:
                self._sockets.append(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cut_off(self) -> HttpError:
        """The error of an exchange its deadline ended."""
        return HttpError(f"no complete answer within {self.seconds:g} s: cut off")


def _shut(sock: socket.socket) -> None:
    # shutdown() wakes a recv() blocked in another thread (close() would not, on Linux).
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()  # the exchange this thread is working on


def _watch_current(sock: socket.socket | None) -> None:
    exchange = getattr(_current, "exchange", None)
    if exchange is not None and sock is not None:
        exchange.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    """A connection whose socket the current exchange's watchdog may shut down."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_current(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_current(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter with the watched connections, directly and through proxies."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


class _Decoder:
    """A body's Content-Encoding undone, refusing more than ``left`` decoded bytes."""

    def __init__(self, encoding: str, left: int) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise HttpError(
                f'the body is in Content-Encoding "{encoding}", which was not asked for'
            )
        # wbits | 32: a gzip or a zlib header, told apart by the data (servers mix them up).
        self._inflate = (
            zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding not in ("", "identity") else None
        )
        self.left = left
        self.limit = left

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of ``data``; HttpError past the limit or on corrupt data."""
        if self._inflate is None:
            return self._count(data)
        parts = []
        try:
            while data:
                parts.append(self._count(self._inflate.decompress(data, self.left + 1)))
                data = self._inflate.unconsumed_tail
        except zlib.error as error:
            raise HttpError(f"the compressed body is corrupt: {error}") from None
        return b"".join(parts)

    def _count(self, piece: bytes) -> bytes:
        self.left -= len(piece)
        if self.left < 0:
            raise HttpError(
                f"the body is larger than {self.limit // 1024} KB once decompressed: refused"
            )
        return piece


class Client:
    """Sessions (one per thread) that send bulletin's User-Agent and keep to ``limits``."""

    def __init__(self, user_agent: str, limits: Limits | None = None) -> None:
        self.user_agent = user_agent
        self.limits = limits or Limits()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection of every thread's session."""
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def get(
        self, url: str, headers: Mapping[str, str] | None = None, limits: Limits | None = None
    ) -> Response:
        """GET ``url``, following redirects, and read the body whole (within the limits)."""
        limits = limits or self.limits
        hops: list[int] = []
        with _Exchange(limits.total) as exchange:
            for _ in range(limits.max_redirects + 1):
                answer = self._send(exchange, "GET", url, headers, None, limits)
                location = answer.headers.get("location")
                if answer.status_code in REDIRECTS and location:
                    answer.close()  # its body is of no use: never read it
                    hops.append(answer.status_code)
                    url = _next_hop(url, location)
                    continue
                return self._read(exchange, answer, url, tuple(hops), limits)
        raise HttpError(f"more than {limits.max_redirects} redirects")

    def post_form(
        self, url: str, fields: Sequence[tuple[str, str]], limits: Limits | None = None
    ) -> Response:
        """POST ``fields`` form-encoded to ``url``; a redirect is returned, not followed."""
        limits = limits or self.limits
        with _Exchange(limits.total) as exchange:
            answer = self._send(exchange, "POST", url, None, list(fields), limits)
            return self._read(exchange, answer, url, (), limits)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = _Adapter(pool_maxsize=4)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(
                {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
            )
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _send(
        self,
        exchange: _Exchange,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        data: list[tuple[str, str]] | None,
        limits: Limits,
    ) -> requests.Response:
        try:
            return self._session().request(
                method,
                url,
                headers=dict(headers or {}),
                data=data,
                stream=True,
                allow_redirects=False,
                timeout=(limits.connect, limits.total),
            )
        except (requests.RequestException, OSError) as error:
            raise exchange.cut_off() if exchange.expired else HttpError(_reason(error)) from None

    def _read(
        self,
        exchange: _Exchange,
        answer: requests.Response,
        url: str,
        hops: tuple[int, ...],
        limits: Limits,
    ) -> Response:
        headers = {name.lower(): value for name, value in answer.headers.items()}
        try:
            decoder = _Decoder(headers.get("content-encoding", ""), limits.max_bytes)
            parts = []
            while chunk := answer.raw.read(_CHUNK, decode_content=False):
                parts.append(decoder.feed(chunk))
                if exchange.expired:
                    raise exchange.cut_off()
        except (requests.RequestException, OSError, _Urllib3Error) as error:
            raise exchange.cut_off() if exchange.expired else HttpError(_reason(error)) from None
        finally:
            answer.close()
        if exchange.expired:  # the watchdog ended the body early: it may look complete
            raise exchange.cut_off()
        return Response(url, answer.status_code, headers, b"".join(parts), hops)


def _next_hop(url: str, location: str) -> str:
    target = urljoin(url, location.strip())
    if urlsplit(target).scheme not in ("http", "https"):
        raise HttpError(f'redirected to "{target}", which is not an http(s) address')
    return target


def _reason(error: BaseException) -> str:
    """A short reason for a failed exchange, without urllib3's nested reprs."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "the server did not accept a connection in time"
    if isinstance(error, requests.exceptions.ConnectionError):
        inner = error.args[0] if error.args else error
        reason = getattr(inner, "reason", inner)
        text = str(reason)
        if "Connection refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "the host name does not resolve"
        return f"connection failed: {text.split(': ', 1)[-1][:200]}"
    return f"{type(error).__name__}: {str(error)[:200]}"
