"""CloudFront's expiration rules, cache key and invalidation purge (stack/local/cloudfront/caching.py)."""
from __future__ import annotations

import pytest

from base.timescale import TimeScale
from stack.local.cloudfront.caching import EdgeCache, cache_key, ttl_s
from stack.local.cloudfront.distribution import CachePolicy, KeyParts

POLICY = CachePolicy(min_ttl_s=5, default_ttl_s=100, max_ttl_s=1000)


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (200, [], 100),  # no caching header: DefaultTTL
    (200, [("Cache-Control", "max-age=50")], 50),
    (200, [("Cache-Control", "max-age=2")], 5),  # below MinTTL: MinTTL
    (200, [("Cache-Control", "public, max-age=99999")], 1000),  # above MaxTTL: MaxTTL
    (200, [("Cache-Control", "max-age=50, s-maxage=70")], 70),  # s-maxage wins for a shared cache
    (200, [("Cache-Control", "no-store")], 5),  # no-cache/no-store/private: MinTTL (0 would mean not cached)
    (200, [("Expires", "Thu, 01 Jan 1970 00:01:40 GMT")], 40),  # Expires, 40 s after "now" (epoch 60)
    (404, [], 10),  # errors: the error caching minimum TTL
    (503, [("Cache-Control", "max-age=0")], 0),
    (302, [("Cache-Control", "max-age=50")], 0),  # not a status CloudFront caches
])
def test_ttl_follows_cloudfronts_expiration_rules(status: int, headers: list[tuple[str, str]], expected: float) -> None:
    assert ttl_s(status, headers, POLICY, now_epoch_s=60) == expected


def test_no_store_with_min_ttl_zero_is_not_cached() -> None:
    assert ttl_s(200, [("Cache-Control", "private")], CachePolicy(0, 100, 1000)) == 0


def test_cache_key_takes_only_what_the_policy_names() -> None:
    key = KeyParts(headers=("accept-language",), query_behavior="whitelist", query_names=frozenset({"size"}),
                   cookie_behavior="none")
    a = cache_key("D1", "/p", "size=1&utm=x", {"accept-language": "de", "cookie": "s=1"}, key)
    b = cache_key("D1", "/p", "utm=y&size=1", {"accept-language": "de", "cookie": "s=2", "user-agent": "z"}, key)
    c = cache_key("D1", "/p", "size=2", {"accept-language": "de"}, key)
    d = cache_key("D1", "/p", "size=1", {"accept-language": "en"}, key)
    assert a == b and a != c and a != d
    assert cache_key("D1", "/p", "a=1", {}, KeyParts()) == cache_key("D1", "/p", "a=2", {}, KeyParts())


def test_entries_expire_at_the_scaled_ttl_and_report_age_in_aws_seconds() -> None:
    now = [100.0]
    cache = EdgeCache(TimeScale(0.1), clock=lambda: now[0])
    entry = cache.put(("D1", "/a"), 200, [], b"x", ttl_aws_s=60)  # 6 wall seconds
    assert entry is not None and cache.put(("D1", "/b"), 200, [], b"x", ttl_aws_s=0) is None
    now[0] += 3
    found = cache.get(("D1", "/a"))
    assert found is entry and cache.age_s(found) == 30
    now[0] += 3.01
    assert cache.get(("D1", "/a")) is None and len(cache) == 0


def test_invalidation_purges_exact_paths_and_prefixes_of_one_distribution_only() -> None:
    cache = EdgeCache(TimeScale(0.1))
    for distribution, path, query in [("D1", "/img/a.png", ()), ("D1", "/img/b.png", (("v", "2"),)), ("D1", "/app.js", ()),
                                      ("D1", "/index.html", ()), ("D2", "/img/a.png", ())]:
        cache.put((distribution, path, query, (), ()), 200, [], b"x", 60)
    assert cache.purge("D1", ["/img/*", "/app.js"]) == 3
    assert cache.get(("D1", "/index.html", (), (), ())) is not None
    assert cache.get(("D2", "/img/a.png", (), (), ())) is not None


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = EdgeCache(TimeScale(0.1), max_entries=2)
    cache.put(("D1", "/a"), 200, [], b"x", 60)
    cache.put(("D1", "/b"), 200, [], b"x", 60)
    assert cache.get(("D1", "/a")) is not None  # /a is now the most recently used
    cache.put(("D1", "/c"), 200, [], b"x", 60)
    assert cache.get(("D1", "/b")) is None and cache.get(("D1", "/a")) is not None
