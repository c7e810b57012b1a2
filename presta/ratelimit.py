"""Rate limits: GCRA token buckets, shared through Redis by every API process.

A bucket holds ``limit`` units and refills evenly over ``window`` seconds; a request spends
``cost`` units. Several buckets (the principal's and the marketplace's) are checked and spent
together, atomically: a request refused by one spends nothing from the others. The state of a
bucket is one number, its theoretical arrival time, in integer milliseconds of
``presta.clock`` (so tests move time instead of sleeping).

Without Redis (the embedded default) the buckets live in the process. When Redis fails the
request passes: a limiter outage must not become an API outage. It is logged and counted
(``presta_rate_limit_failures_total``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter

from presta import clock
from presta.quick_redis import FAILURES, OutageLog, quick_client
from presta.settings import settings

log = logging.getLogger(__name__)

RATE_LIMITED = Counter("presta_rate_limited_total", "Operations refused by a rate limit", ["scope"])
RATE_LIMIT_FAILURES = Counter(
    "presta_rate_limit_failures_total", "Rate-limit checks that failed open (Redis unreachable)"
)


@dataclass(frozen=True, slots=True)
class Bucket:
    """``key`` names whose allowance it is, e.g. ``user:7`` or ``marketplace:3``."""

    key: str
    limit: int
    window_seconds: float
    cost: int = 1

    @property
    def scope(self) -> str:
        return self.key.split(":", 1)[0]

    def increment_ms(self) -> int:
        """Milliseconds of allowance this request spends (a cost over the limit is capped)."""
        per_unit = int(self.window_seconds * 1000) // max(self.limit, 1)
        return per_unit * min(max(self.cost, 1), max(self.limit, 1))

    @property
    def window_ms(self) -> int:
        return int(self.window_seconds * 1000)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until the same request would pass
    scope: str | None = None  # the bucket that refused: "user", "marketplace", ...

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for ``Retry-After``: never 0 on a refusal."""
        return max(1, math.ceil(self.retry_after)) if not self.allowed else 0


ALLOWED = Decision(allowed=True)


class Limiter(Protocol):
    async def hit(self, buckets: Sequence[Bucket]) -> Decision: ...


def _now_ms() -> int:
    return int(clock.now().timestamp() * 1000)


def _refusal(buckets: Sequence[Bucket], waits: list[int]) -> Decision:
    worst = max(range(len(waits)), key=waits.__getitem__)
    return Decision(allowed=False, retry_after=waits[worst] / 1000, scope=buckets[worst].scope)


class MemoryLimiter:
    """The same buckets inside one process (embedded default, no Redis)."""

    _PRUNE_EVERY = 1024

    def __init__(self) -> None:
        self._tats: dict[str, int] = {}
        self._hits = 0

    async def hit(self, buckets: Sequence[Bucket]) -> Decision:
        now = _now_ms()
        self._prune(now)
        waits: list[int] = []
        new_tats: list[int] = []
        for bucket in buckets:
            tat = max(self._tats.get(bucket.key, now), now)
            new_tat = tat + bucket.increment_ms()
            waits.append(max(0, new_tat - bucket.window_ms - now))
            new_tats.append(new_tat)
        if any(waits):
            return _refusal(buckets, waits)
        for bucket, new_tat in zip(buckets, new_tats, strict=True):
            self._tats[bucket.key] = new_tat
        return ALLOWED

    def _prune(self, now: int) -> None:
        self._hits += 1
        if self._hits % self._PRUNE_EVERY == 0:
            self._tats = {k: v for k, v in self._tats.items() if v > now}


# KEYS: the buckets. ARGV[1]: now (ms); then, per bucket, its increment and window (ms).
# Returns 0 when every bucket allows (and spends them), else the longest wait per bucket.
_GCRA = """
local now = tonumber(ARGV[1])
local waits = {}
local tats = {}
local refused = false
for i, key in ipairs(KEYS) do
  local inc = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  tats[i] = tat + inc
  local wait = tats[i] - window - now
  if wait > 0 then refused = true else wait = 0 end
  waits[i] = wait
end
if refused then return waits end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%d', tats[i]), 'PX', tats[i] - now + 1000)
end
return 0
"""


class RedisLimiter:
    """Buckets in Redis, one Lua script per request: every API process shares them."""

    def __init__(self, url: str, namespace: str) -> None:
        self._client = quick_client(url)
        self._script = self._client.register_script(_GCRA)
        self._prefix = f"{namespace}:ratelimit:"
        self._outages = OutageLog(log, "rate limiter unavailable, letting requests through")

    async def hit(self, buckets: Sequence[Bucket]) -> Decision:
        args: list[Any] = [_now_ms()]
        for bucket in buckets:
            args += [bucket.increment_ms(), bucket.window_ms]
        try:
            result = await self._script(keys=[self._prefix + b.key for b in buckets], args=args)
        except FAILURES as exc:
            self._fail_open(exc)
            return ALLOWED
        if not isinstance(result, list):
            return ALLOWED
        return _refusal(buckets, [int(w) for w in result])

    def _fail_open(self, exc: BaseException) -> None:
        RATE_LIMIT_FAILURES.inc()
        self._outages.failed(exc)

    async def close(self) -> None:
        await self._client.aclose()


_limiters: dict[tuple[str, str, int], Limiter] = {}


def limiter() -> Limiter:
    """The process's limiter for the settings in force (Redis when configured)."""
    cfg = settings()
    # A Redis client belongs to one event loop (tests run several apps and loops).
    loop_id = id(asyncio.get_running_loop()) if cfg.redis_url else 0
    key = (cfg.redis_url, cfg.redis_namespace, loop_id)
    found = _limiters.get(key)
    if found is None:
        found = (
            RedisLimiter(cfg.redis_url, cfg.redis_namespace) if cfg.redis_url else MemoryLimiter()
        )
        _limiters[key] = found
    return found


async def check(buckets: Sequence[Bucket], *, limiter_: Limiter | None = None) -> Decision:
    """Spend the buckets if they all allow it; count the refusal otherwise."""
    decision = await (limiter_ or limiter()).hit(buckets)
    if not decision.allowed:
        RATE_LIMITED.labels(decision.scope or "unknown").inc()
    return decision
