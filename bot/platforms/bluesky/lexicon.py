"""The atproto SDK's lexicon: its models, NSIDs and facet detector, imported once.

Records Clarion writes and answers it reads go through the SDK's generated models
(``atproto_client.models``, one class per lexicon definition), validated with the SDK's
string formats switched on (``strict_string_format``: AT-URIs, CIDs, DIDs, datetimes,
URIs), so a record the PDS would refuse fails here, naming the field, before any request.
Records are serialised with the SDK's own dump (by alias, without None:
``get_model_as_dict``/``get_model_as_json``), as its ``Client.send_post`` does.

The SDK imports its model modules lazily and builds each model's schema on first use;
two threads doing that at once can see a half-initialised module ("cannot import name
'detect_facets'", seen with 16 delivery threads). So ``load`` does it once, under a lock,
for every model Clarion uses, and the adapter starts it in the background when it is
built (``warm_up``): no post waits for it, and importing Clarion stays cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Opt-in string-format validation (atproto_client.models.string_formats): off by default
# in the SDK, on for everything Clarion builds or reads.
STRICT = {"strict_string_format": True}


class LexiconError(ValueError):
    """Data the lexicon refuses: ``what`` it was, and ``detail`` naming each field, the
    rule and the value."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.what = what
        self.detail = detail


@dataclass(frozen=True)
class Atproto:
    """What Clarion uses of the SDK: ``models`` (the generated package, with ``ids``,
    the NSIDs), the offline facet detector and the SDK's model dump helpers."""

    models: Any
    detect_facets: Callable[[str], list[Any]]
    get_or_create: Callable[..., Any]
    as_dict: Callable[[Any], dict[str, Any]]
    as_json: Callable[[Any], str]

    @property
    def ids(self) -> Any:
        """The NSIDs of every lexicon (``ids.ComAtprotoRepoCreateRecord`` ...)."""
        return self.models.ids

    def parse(self, data: Any, model: Any, *, what: str) -> Any:
        """``data`` (JSON) as an instance of ``model``, string formats checked; a
        ``LexiconError`` naming ``what`` and the fields refused otherwise."""
        from atproto_client.exceptions import ModelError

        if not isinstance(data, Mapping):
            raise LexiconError(what, "not a JSON object")
        try:
            return self.get_or_create(data, model, strict=True, strict_string_format=True)
        except ModelError as exc:
            raise LexiconError(what, describe(exc)) from None


def describe(exc: BaseException) -> str:
    """pydantic's errors as ``field.path: rule ('value')``, joined by "; ". A union
    member's tag in the path (``embed.app.bsky.embed.external.external.uri``) is left
    out: field names never hold a dot."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    said = []
    for error in errors():
        path = [str(part) for part in error.get("loc", ()) if "." not in str(part)]
        rule = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        value = error.get("input")
        shown = f" ({_shorten(value)!r})" if isinstance(value, str | int | float) else ""
        said.append(f"{'.'.join(path) or 'record'}: {rule}{shown}")
    return "; ".join(said)


def _shorten(value: str | int | float) -> str | int | float:
    if isinstance(value, str) and len(value) > 60:
        return value[:40] + "…" + value[-10:]
    return value


class Loader:
    """Imports the SDK once, by one thread; every other caller waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sdk: Atproto | None = None

    def __call__(self) -> Atproto:
        sdk = self._sdk
        return sdk if sdk is not None else self.load()

    def load(self) -> Atproto:
        with self._lock:
            if self._sdk is not None:
                return self._sdk
            from atproto_client import models
            from atproto_client.models.utils import (
                get_model_as_dict,
                get_model_as_json,
                get_or_create,
            )
            from atproto_client.utils import detect_facets

            sdk = Atproto(
                models, detect_facets, get_or_create, get_model_as_dict, get_model_as_json
            )
            _build_schemas(sdk)
            self._sdk = sdk
            return sdk

    def warm_up(self) -> None:
        threading.Thread(target=self.load, name="atproto-import", daemon=True).start()


def _build_schemas(sdk: Atproto) -> None:
    """Touch every model Clarion uses, so their modules are imported and their schemas
    built here, under the loader's lock, rather than by the first posts at once."""
    m = sdk.models
    sample: Mapping[str, Any] = {
        "$type": m.ids.AppBskyFeedPost,
        "text": "#warm https://example.org",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "facets": sdk.detect_facets("#warm https://example.org"),
        "embed": {
            "$type": m.ids.AppBskyEmbedExternal,
            "external": {"uri": "https://example.org", "title": "", "description": ""},
        },
    }
    record = sdk.parse(sample, m.AppBskyFeedPost.Record, what="warm-up")
    sdk.as_json(
        m.ComAtprotoRepoCreateRecord.Data(
            repo="did:plc:warm", collection=m.ids.AppBskyFeedPost, rkey="3l", record=record
        )
    )
    for model in (
        m.AppBskyFeedPost.ReplyRef,
        m.ComAtprotoRepoStrongRef.Main,
        m.ComAtprotoRepoCreateRecord.Response,
        m.ComAtprotoRepoGetRecord.Response,
        m.ComAtprotoRepoListRecords.Response,
        m.ComAtprotoServerCreateSession.Response,
        m.ComAtprotoServerRefreshSession.Response,
        m.ComAtprotoServerGetSession.Response,
        m.ComAtprotoIdentityResolveHandle.Response,
        m.AppBskyActorDefs.ProfileViewDetailed,
        m.AppBskyFeedGetPosts.Response,
        m.AppBskyFeedDefs.PostView,
    ):
        model.model_rebuild()


atproto = Loader()
