"""API keys: who may read, submit, or steer. Pure logic over the driver's keys table.

A key is 32 random bytes, shown once when it is made (``taskq keys create``). The store
keeps only its SHA-256 digest: a key has far too much entropy to be guessed from it, so a
slow hash would add nothing, and a lookup by digest is one indexed read. Scopes nest:
``read`` ⊂ ``submit`` ⊂ ``admin``.

Every API process reads keys from the store, so a key made or revoked through any process,
or the CLI, is seen by all. Each process remembers what it read for at most ``CACHE_S``: a
revoked key stops working within that time everywhere, and a request costs no read of the
store while its key is remembered.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from taskq.errors import InvalidTask, TaskConflict, TaskNotFound

if TYPE_CHECKING:
    from taskq.drivers.base import Driver

PREFIX = "tq_"
CACHE_S = 2.0
# last_used_at is a hint for `taskq keys list`: written at most this often per process
TOUCH_EVERY_S = 60.0
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Scope(enum.IntEnum):
    """What a key may do; each includes the ones below it."""

    READ = 1
    SUBMIT = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return cls[text.upper()]
        except KeyError:
            raise InvalidTask("scope must be read, submit or admin", field="scope") from None


class KeyInfo(msgspec.Struct, frozen=True, gc=False):
    """A key as listed (never the key itself)."""

    name: str
    scope: Scope
    created_at: float
    last_used_at: float | None = None


class StoredKey(KeyInfo, frozen=True, gc=False):
    """A key's row: with the digest it was found by."""

    digest: str = ""


def new_secret() -> str:
    """A new key: the prefix (so that secret scanners and people recognise it), then 32
    random bytes in URL-safe base64."""
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def digest(secret: str) -> str:
    """What the store keeps of a key."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidTask(
            "a key's name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
            field="name",
        )
    return name


class Keys:
    """The keys of one store, as this process sees them (remembered for ``CACHE_S``)."""

    def __init__(self, driver: Driver, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._driver = driver
        self._clock = clock
        self._found: dict[str, tuple[float, KeyInfo | None]] = {}  # digest -> (until, key)
        self._any: tuple[float, bool] = (float("-inf"), False)
        self._touched: dict[str, float] = {}  # name -> when this process last wrote it

    async def create(self, name: str, scope: Scope) -> str:
        """Store a new key named ``name``; returns the key (the only time it is known)."""
        secret = new_secret()
        key = StoredKey(check_name(name), scope, time.time(), None, digest(secret))
        if not await self._driver.create_key(key):
            raise TaskConflict(f"a key named {name!r} exists: revoke it first, or pick a name")
        self._any = (float("-inf"), True)
        return secret

    async def list(self) -> list[KeyInfo]:
        """Every key, by name."""
        return [
            KeyInfo(k.name, k.scope, k.created_at, k.last_used_at)
            for k in await self._driver.list_keys()
        ]

    async def revoke(self, name: str) -> None:
        if not await self._driver.revoke_key(name):
            raise TaskNotFound(f"no key named {name!r}")
        self._found.clear()
        self._any = (float("-inf"), False)

    async def exist(self) -> bool:
        """Whether the store holds any key (remembered for ``CACHE_S``)."""
        until, found = self._any
        if self._clock() >= until:
            found = await self._driver.has_keys()
            self._any = (self._clock() + CACHE_S, found)
        return found

    async def verify(self, secret: str) -> KeyInfo | None:
        """The key ``secret`` is, if it is a stored key."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        wanted = digest(secret)
        until, key = self._found.get(wanted, (float("-inf"), None))
        if self._clock() < until:
            return key
        stored = await self._driver.find_key(wanted)
        key = None
        # the lookup matched on the digest already; comparing again in constant time keeps
        # a store's index out of any timing a caller could measure
        if stored is not None and hmac.compare_digest(stored.digest, wanted):
            key = KeyInfo(stored.name, stored.scope, stored.created_at, stored.last_used_at)
            await self._touch(key.name)
        if len(self._found) > 10_000:  # bounded: a flood of wrong keys
            self._found.clear()
        self._found[wanted] = (self._clock() + CACHE_S, key)
        return key

    async def _touch(self, name: str) -> None:
        now = time.time()
        if now - self._touched.get(name, float("-inf")) >= TOUCH_EVERY_S:
            self._touched[name] = now
            await self._driver.touch_key(name, now=now)


def csrf_token(secret: str) -> str:
    """The token a signed-in page sends with each change (``X-CSRF-Token``): derived from
    its key, so that only a page that was given it (``GET /session``) can know it."""
    mac = hmac.new(secret.encode("utf-8", "surrogatepass"), b"taskq csrf", hashlib.sha256)
    return mac.hexdigest()
