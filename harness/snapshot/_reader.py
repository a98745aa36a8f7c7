"""Read lists from the API server: read-only GETs, paged, fetched by a thread pool, failures typed.

Every request is a GET (``/version``, discovery documents, collection lists with ``limit``/``continue`` paging);
there is no watch, no single-object get and no write. A small thread pool fetches the lists (I/O only) while the
calling thread decodes the JSON and prepares each list as it arrives (the typed client's model objects would cost
more than the transfer). A list that fails with an HTTP status is handed on as :class:`ListFailed` (a type the
identity may not list becomes a ``not_readable`` entry and the rest goes on); an unreachable server or rejected
credentials stop with a typed error.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from harness.errors import InfraError, InputError
from harness.progress import Progress

JSON = "application/json"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
PAGE = 1000
TIMEOUT = (10.0, 120.0)  # connect, read (seconds)


# -- HTTP -----------------------------------------------------------------------------------------------------


class ListFailed(Exception):
    """One request failed with an HTTP status; the caller decides whether that is fatal."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason

    @property
    def short(self) -> str:
        return {403: "forbidden", 404: "not served", 401: "unauthorized"}.get(self.status, f"HTTP {self.status}")


class Reader:
    """GETs through a kubernetes ``ApiClient`` (so auth, TLS and proxies are the kubeconfig's), raw JSON out."""

    def __init__(self, api_client: Any, server: str = "") -> None:
        self.api = api_client
        self.server = server or str(getattr(api_client.configuration, "host", ""))

    def _raw(self, path: str, query: Sequence[tuple[str, str]], accept: str) -> bytes:
        from kubernetes.client.exceptions import ApiException

        api = self.api
        headers = {"Accept": accept}
        try:
            if hasattr(api, "param_serialize"):  # kubernetes >= 31 (the newer generator)
                method, url, hdrs, _, _ = api.param_serialize(
                    "GET", path, query_params=list(query), header_params=headers, auth_settings=["BearerToken"]
                )
                resp = api.call_api(method, url, header_params=hdrs, _request_timeout=TIMEOUT)
                data: bytes = resp.read()
                if not 200 <= resp.status <= 299:
                    raise ListFailed(int(resp.status), _reason(data, str(resp.reason)))
                return data
            resp = api.call_api(
                path, "GET", query_params=list(query), header_params=headers, auth_settings=["BearerToken"],
                _preload_content=False, _return_http_data_only=True, _request_timeout=TIMEOUT,
            )
            old: bytes = resp.data
            return old
        except ApiException as e:
            if not e.status:  # TLS and similar, reported by the client as status 0
                raise InfraError(f"cannot reach the cluster at {self.server}: {_one_line(str(e.reason))}") from None
            raise ListFailed(int(e.status), _reason((e.body or "").encode(), str(e.reason))) from None
        except ListFailed:
            raise
        except Exception as e:
            if _is_connection_error(e):
                raise InfraError(f"cannot reach the cluster at {self.server}: {_cause(e)}") from None
            raise

    def get(self, path: str, query: Sequence[tuple[str, str]] = (), accept: str = JSON) -> Any:
        """One GET, JSON-decoded."""
        return self.decode(path, self._raw(path, query, accept))

    def decode(self, path: str, data: bytes) -> Any:
        """JSON from ``path``, or an :class:`InfraError` saying what came instead."""
        try:
            return orjson.loads(data)  # several times faster than json on large lists; same values
        except ValueError:  # orjson.JSONDecodeError; also integers beyond 64 bits, which json takes
            pass
        try:
            return json.loads(data)
        except ValueError:
            raise InfraError(
                f"{self.server}{path} did not answer with JSON ({_one_line(data[:60].decode(errors='replace'))!r}…); "
                "is a proxy in the way?"
            ) from None

    def list_raw(self, path: str, query: Sequence[tuple[str, str]] = (), accept: str = JSON) -> list[bytes]:
        """All pages of a collection (``limit`` :data:`PAGE`, ``continue``), undecoded: the caller decodes them.

        A continue token that expired (410) restarts the list unpaged, for one consistent answer.
        """
        pages: list[bytes] = []
        token = ""
        while True:
            params = [*query, ("limit", str(PAGE))] + ([("continue", token)] if token else [])
            try:
                page = self._raw(path, params, accept)
            except ListFailed as e:
                if e.status == 410 and token:
                    return [self._raw(path, query, accept)]
                raise
            pages.append(page)
            token = _continue_token(page)
            if not token:
                return pages


_LIST_HEAD = re.compile(rb'\{"kind":"[A-Za-z]*List","apiVersion":"[^"]*","metadata":\{([^{}]*)\}')
_CONTINUE = re.compile(rb'"continue":"([^"\\]*)"')


def _continue_token(page: bytes) -> str:
    """A list page's ``metadata.continue``, read from the head the API server writes first; decoded if not found."""
    head = _LIST_HEAD.match(page, 0, 8192)
    if head is not None:
        m = _CONTINUE.search(head.group(1))
        return m.group(1).decode() if m else ""
    try:
        meta = json.loads(page).get("metadata") or {}
    except (ValueError, AttributeError):
        return ""
    return str(meta.get("continue") or "")


def rejected_credentials(server: str) -> InputError:
    """What an answer of 401 means: the kubeconfig's credentials are not accepted."""
    return InputError(f"the cluster at {server} rejected the credentials (401 Unauthorized)")


def _reason(body: bytes, fallback: str) -> str:
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return _one_line(str(message or fallback))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_connection_error(e: BaseException) -> bool:
    import urllib3

    return isinstance(e, (urllib3.exceptions.HTTPError, OSError))


def _cause(e: BaseException) -> str:
    """The innermost, human-meaningful reason of a urllib3 connection failure."""
    import urllib3

    inner: BaseException = e
    if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason is not None:
        inner = e.reason
    text = str(inner)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"Failed to establish a new connection: (.+)"):
        m = re.search(pattern, text)
        if m:
            return _one_line(m.group(1)).rstrip("')\" ")
    if isinstance(inner, urllib3.exceptions.TimeoutError):
        return "timed out"
    return _one_line(text) or type(inner).__name__


# -- lists in parallel ----------------------------------------------------------------------------------------

Result = Any  # what was made of a list's items (sized: a listing, the items…), or the ListFailed it ended with
Prepare = Callable[[str, list[dict[str, Any]]], Any]  # (the path listed, its items) -> what the handler gets
Handle = Callable[[Result], None]


@dataclass
class _Fetched:
    """The raw pages of one list, fetched by a worker; decoded and prepared on the collecting thread."""

    path: str
    pages: list[bytes]

    def items(self, reader: Reader) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.pages:
            items.extend(reader.decode(self.path, page).get("items") or [])
        return items


class Lists:
    """Workers only fetch (I/O, no GIL held for long); this thread decodes and prepares each list as it arrives.

    That split keeps one core busy with JSON and sanitizing while the API server works on the next lists. What
    could not be read is kept in :attr:`not_readable`, one line each.
    """

    def __init__(self, reader: Reader, pool: cf.Executor, progress: Progress) -> None:
        self.reader, self.pool, self.progress = reader, pool, progress
        self.not_readable: list[str] = []
        # future → (label, make the result, handle it, whether it is a list progress counts)
        self.pending: dict[cf.Future[_Fetched], tuple[str, Callable[[_Fetched], Any], Handle, bool]] = {}
        self.done = 0

    def submit(
        self, label: str, paths: Sequence[str], query: Sequence[tuple[str, str]], accept: str, handle: Handle,
        prepare: Prepare | None = None,
    ) -> None:
        """List the first of ``paths`` that is served (404: try the next) in the pool; decode and ``prepare`` the
        items, then ``handle`` the result, on the thread that calls :meth:`drain`."""
        def fetch() -> _Fetched:
            for path in paths[:-1]:
                try:
                    return _Fetched(path, self.reader.list_raw(path, query, accept))
                except ListFailed as e:
                    if e.status != 404:
                        raise
            return _Fetched(paths[-1], self.reader.list_raw(paths[-1], query, accept))

        def make(fetched: _Fetched) -> Any:
            items = fetched.items(self.reader)
            return prepare(fetched.path, items) if prepare is not None else items

        self.pending[self.pool.submit(fetch)] = (label, make, handle, True)

    def fetch(self, label: str, path: str, handle: Handle) -> None:
        """GET one document (discovery) in the pool; ``handle`` gets it decoded, or the :class:`ListFailed` it ended
        with, on the thread that calls :meth:`drain`. Not a list: progress does not count it."""
        def get() -> _Fetched:
            return _Fetched(path, [self.reader._raw(path, (), JSON)])

        def make(fetched: _Fetched) -> Any:
            return self.reader.decode(fetched.path, fetched.pages[0])

        self.pending[self.pool.submit(get)] = (label, make, handle, False)

    def fetch_text(self, label: str, path: str, handle: Handle) -> None:
        """GET one text document (``/metrics``) in the pool; ``handle`` gets it as text, or the :class:`ListFailed`
        it ended with, on the thread that calls :meth:`drain`. Not a list: progress does not count it."""
        def get() -> _Fetched:
            return _Fetched(path, [self.reader._raw(path, (), "text/plain")])

        def make(fetched: _Fetched) -> Any:
            return fetched.pages[0].decode("utf-8", errors="replace")

        self.pending[self.pool.submit(get)] = (label, make, handle, False)

    def drain(self) -> None:
        """Handle every list submitted, including those submitted by handlers, as each arrives."""
        while self.pending:
            finished, _ = cf.wait(self.pending, return_when=cf.FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: self.pending[f][0]):
                label, make, handle, counted = self.pending.pop(future)
                try:
                    result: Result = make(future.result())
                except ListFailed as e:
                    if e.status == 401:
                        self._cancel()
                        raise rejected_credentials(self.reader.server) from None
                    result = e
                except BaseException:
                    self._cancel()
                    raise
                if not counted:
                    handle(result)
                    continue
                self.done += 1
                count = f"{result.short}, " if isinstance(result, ListFailed) else f"{len(result)} "
                self.progress.update(f"{label}: {count}({self.done} of {self.done + len(self.pending)} lists done)")
                handle(result)

    def _cancel(self) -> None:
        for f in self.pending:
            f.cancel()
        self.pending.clear()

    def unreadable(self, what: str, error: ListFailed) -> None:
        """Record that ``what`` could not be read, and why."""
        reason = error.short if error.status in (401, 403, 404) else f"{error.short}: {error.reason}"
        self.not_readable.append(f"{what} ({reason})")
