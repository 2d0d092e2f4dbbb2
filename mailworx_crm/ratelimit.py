"""A small fixed-window rate limiter on Django's cache (``CACHES['default']``, shared by
all web processes when ``CACHE_URL`` names Redis)."""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache


def allow(scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt for ``key`` in ``scope``; False once more than ``limit`` were made
    in the current window. The key is stored hashed (it may be an address)."""
    bucket = int(time.time() // window_seconds)
    digest = hashlib.sha256(key.encode()).hexdigest()
    cache_key = f"ratelimit:{scope}:{digest}:{bucket}"
    cache.add(cache_key, 0, timeout=window_seconds + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=window_seconds + 5)
        count = 1
    return count <= limit
