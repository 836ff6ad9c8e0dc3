"""``wsevents.metrics``: a real HTTP scrape, parsed with prometheus_client's parser,
shows every counter moving as the test drives faults (issue 14)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import wsevents
from tests.conftest import Recorder, until
from wsevents.metrics import COUNTERS, StatsCollector, start_http_server
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


@pytest.fixture
def registry() -> Iterator[tuple[CollectorRegistry, str]]:
    """A registry served on a free loopback port; the server is shut down after."""
    registry = CollectorRegistry()
    server, thread = start_http_server(0, registry=registry)
    yield registry, f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One real HTTP scrape: sample (name, labels) -> value."""
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted({"feed": "f", **labels}.items()))), 0.0)


async def test_every_counter_moves_as_faults_are_driven(
    server: FakeServer, make_connection: Make, registry: tuple[CollectorRegistry, str]
) -> None:
    """Drops, a 1011 close, a refused attempt, a bad frame, a raising handler, a gap,
    a duplicate, a full queue and a handover: each moves its counter in the scrape."""
    reg, url = registry
    ws = make_connection(
        server.url,
        subscriptions=["t"],
        sequence=lambda m: m.get("seq"),
        queue_size=2,
        overflow="drop_newest",
        event_time="E",
        timestamps=True,
        ping_interval=0.02,
        handover_timeout=0.1,
    )
    StatsCollector(ws, feed="f", registry=reg)
    release = asyncio.Event()

    @ws.on("message:t")
    async def handler(message: dict[str, Any]) -> None:
        if message.get("boom"):
            raise ValueError("boom")
        if message.get("hold"):
            await release.wait()

    rec = Recorder(ws, "connect", "disconnect", "error", "gap", "queue_full", "handover")
    before = await scrape(url)
    assert value(before, "wsevents_state", state="idle") == 1
    assert value(before, "wsevents_connected") == 0
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("t")
    now_ms = time.time() * 1000
    await server.publish("t", {"seq": 1, "E": now_ms - 100})
    await server.publish("t", {"seq": 3, "E": now_ms - 100})  # a gap
    await server.publish("t", {"seq": 3})  # a duplicate
    await server.publish("t", {"seq": 4, "boom": True})  # a handler error
    await server.send_raw("not json")  # a decode error
    await rec.wait(lambda r: r.of("gap") and len(r.of("error")) == 2)
    await server.publish("t", {"seq": 5, "hold": True})
    for seq in range(6, 12):  # the queue (2) overflows behind the held message
        await server.publish("t", {"seq": seq})
    await until(lambda: ws.stats.messages_dropped > 0)
    release.set()  # the queue_full report waits for the held handler
    await rec.wait_count("queue_full", 1)
    await until(lambda: ws.stats.queue_depth == 0)
    await until(lambda: ws.stats.ping_rtt is not None)
    middle = await scrape(url)
    assert value(middle, "wsevents_ping_rtt_seconds") > 0
    await ws.handover()
    await rec.wait_count("handover", 1)
    client = (await server.wait_for_client(2)) if len(server.clients) < 1 else server.clients[0]
    server.refuse(503, count=1)
    await server.drop()
    await rec.wait_count("connect", 3)
    client = server.clients[0]
    await client.close(1011, "boom")
    await rec.wait_count("connect", 4)

    after = await scrape(url)
    for name in COUNTERS:
        metric = f"wsevents_{name}_total"
        assert value(after, metric) > value(before, metric), name
    reasons = {
        dict(labels)["reason"]
        for (name, labels), _ in after.items()
        if name == "wsevents_disconnects_by_reason_total"
    }
    assert {"network_error", "server_close", "handover"} <= reasons
    assert value(after, "wsevents_handovers_total") == 1
    assert ("wsevents_queue_peak", (("feed", "f"),)) in after  # sampled: drop_oldest, 16s
    assert value(after, "wsevents_latency_seconds", channel="t", quantile="0.5") > 0.05
    assert value(after, "wsevents_latency_samples", channel="t") == 2
    assert value(after, "wsevents_clock_offset_seconds") < -0.05
    assert value(after, "wsevents_state", state="connected") == 1
    assert value(after, "wsevents_connected") == 1


@attrs.frozen
class _Shard:
    id: int
    stats: wsevents.Stats


class _Pool:
    """What the lead's Pool exposes: an aggregate ``stats`` and ``shards``."""

    def __init__(self) -> None:
        self.shards = [
            _Shard(0, wsevents.Stats(messages_received=3)),
            _Shard(1, wsevents.Stats(messages_received=4)),
        ]

    @property
    def stats(self) -> wsevents.Stats:
        return wsevents.Stats(messages_received=7)


async def test_a_pool_is_labelled_per_shard(registry: tuple[CollectorRegistry, str]) -> None:
    """A source with ``shards`` gets one sample per shard (``shard`` label), and its
    aggregate under ``shard=""``; a source without ``stats`` is refused."""
    reg, url = registry
    StatsCollector(_Pool(), feed="f", registry=reg)
    samples = await scrape(url)
    assert value(samples, "wsevents_messages_received_total", shard="") == 7
    assert value(samples, "wsevents_messages_received_total", shard="0") == 3
    assert value(samples, "wsevents_messages_received_total", shard="1") == 4
    with pytest.raises(TypeError, match="no stats"):
        StatsCollector(object(), registry=None)
