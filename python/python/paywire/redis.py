"""The gate's payment store on Redis, shared by every replica of a paid API, in any language.

Replicas behind a load balancer must share their payment records: each process's own memory only stops
duplicates inside itself, so a payment sent to two replicas at once would be served twice. ``RedisStore``
(a ``redis.Redis`` client, for the WSGI middleware) and ``AsyncRedisStore`` (a ``redis.asyncio.Redis``
client, for the ASGI middleware) keep them in Redis, with the key layout and the atomic scripts the core
defines, so Python and Node replicas of one API read each other's records. A record expires when its
payment could no longer be retried.

    import redis.asyncio
    from paywire.asgi import PaymentMiddleware
    from paywire.redis import AsyncRedisStore

    app.add_middleware(PaymentMiddleware, routes=..., store=AsyncRedisStore(redis.asyncio.from_url(url)))

The ``redis`` package is not a dependency of paywire: install it (``pip install "paywire[redis]"``).
"""

from __future__ import annotations

from typing import Any, Optional

from ._gate import PaymentStore
from ._paywire import REDIS_CLAIM, REDIS_GET, REDIS_KEY_PREFIX, REDIS_RELEASE, REDIS_REPLACE, StoreEntry

__all__ = ["AsyncRedisStore", "RedisStore"]


def _entry(held: Any) -> Optional[StoreEntry]:
    if held is None:
        return None
    return StoreEntry.from_json(held.decode() if isinstance(held, bytes) else str(held))


class RedisStore(PaymentStore):
    """The payment store on Redis through a synchronous ``redis.Redis`` client (WSGI). ``prefix`` keeps
    several APIs apart on one Redis (every replica of one API must use the same one)."""

    def __init__(self, client: Any, prefix: str = REDIS_KEY_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def claim(self, key: str, entry: StoreEntry) -> Optional[StoreEntry]:
        held = self.client.eval(
            REDIS_CLAIM, 1, self.prefix + key, entry.token, entry.to_json(), entry.expires_at
        )
        return _entry(held)

    def get(self, key: str) -> Optional[StoreEntry]:
        return _entry(self.client.eval(REDIS_GET, 1, self.prefix + key))

    def replace(self, key: str, token: str, entry: StoreEntry) -> bool:
        done = self.client.eval(
            REDIS_REPLACE, 1, self.prefix + key, token, entry.token, entry.to_json(), entry.expires_at
        )
        return bool(done)

    def release(self, key: str, token: str) -> None:
        self.client.eval(REDIS_RELEASE, 1, self.prefix + key, token)


class AsyncRedisStore(PaymentStore):
    """The payment store on Redis through an asynchronous ``redis.asyncio.Redis`` client (ASGI)."""

    def __init__(self, client: Any, prefix: str = REDIS_KEY_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    async def claim(self, key: str, entry: StoreEntry) -> Optional[StoreEntry]:
        held = await self.client.eval(
            REDIS_CLAIM, 1, self.prefix + key, entry.token, entry.to_json(), entry.expires_at
        )
        return _entry(held)

    async def get(self, key: str) -> Optional[StoreEntry]:
        return _entry(await self.client.eval(REDIS_GET, 1, self.prefix + key))

    async def replace(self, key: str, token: str, entry: StoreEntry) -> bool:
        done = await self.client.eval(
            REDIS_REPLACE, 1, self.prefix + key, token, entry.token, entry.to_json(), entry.expires_at
        )
        return bool(done)

    async def release(self, key: str, token: str) -> None:
        await self.client.eval(REDIS_RELEASE, 1, self.prefix + key, token)
