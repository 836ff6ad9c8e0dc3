"""Prometheus metrics of a feed (extra ``wsevents[prometheus]``, on ``prometheus_client``).

:class:`StatsCollector` exposes the ``stats`` of a ``Connection``, a bus
``Consumer`` (:class:`wsevents.bus.ConsumerStats`: its own Redis connection's
``connects``/``disconnects``, and ``entries_read``, ``entries_acked``,
``entries_claimed``, ``dead_letters``), or of anything with a ``stats``
attribute (a ``Pool``: its ``shards``, objects with ``id`` and ``stats``, are
labelled one by one).  Everything is read when Prometheus
scrapes: nothing runs per message.  Disconnects by reason and handovers are
counted from the ``disconnect`` and ``handover`` events (lifecycle events only).

Example::

    from wsevents.metrics import StatsCollector, start_http_server

    StatsCollector(ws, feed="binance")          # registered in the default registry
    start_http_server(9108)                     # http://127.0.0.1:9108/metrics

The metric names (prefix ``wsevents_``, labels ``feed`` and, for a pool's shards,
``shard``): the counters of :class:`wsevents.Stats` as ``..._total`` counters
(``messages_received_total``, ``messages_delivered_total``,
``messages_dropped_total``, ``reconnects_total``, ``gaps_total``, ...);
``disconnects_by_reason_total{reason}``, ``handovers_total``; the gauges
``queue_depth``, ``queue_peak``, ``ping_rtt_seconds``, ``clock_offset_seconds``,
``latency_seconds{channel, quantile}`` (0.5, 0.9, 0.99, 1 for the max),
``latency_samples{channel}``, ``connected`` and ``state{state}`` (1 for the
current state).

.. versionadded:: 0.3
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Final


try:
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server as _serve
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        "wsevents.metrics needs prometheus_client: pip install 'wsevents[prometheus]'"
    ) from exc

from ._stats import COUNTERS as _STATS_COUNTERS
from .events import DISCONNECT, HANDOVER, State


__all__ = ["BUS_COUNTERS", "COUNTERS", "GAUGES", "StatsCollector", "start_http_server"]

#: the ``Stats`` counters exposed, as ``wsevents_<name>_total``
COUNTERS: Final = _STATS_COUNTERS
#: the counters only a bus ``Consumer`` has (:class:`wsevents.bus.ConsumerStats`),
#: as ``wsevents_<name>_total``
BUS_COUNTERS: Final = ("entries_read", "entries_acked", "entries_claimed", "dead_letters")
#: the ``Stats`` gauges exposed, as ``wsevents_<name>``
GAUGES: Final = (
    ("queue_depth", "queue_depth"),
    ("queue_peak", "queue_peak"),
    ("ping_rtt", "ping_rtt_seconds"),
    ("clock_offset", "clock_offset_seconds"),
)
_QUANTILES: Final = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"), ("1", "max"))


class StatsCollector(Collector):
    """A Prometheus collector of one feed's ``stats``, read at scrape time.

    Args:
        source: a ``Connection``, a ``Pool``, a bus ``Consumer``, or anything with ``stats`` (a
            :class:`wsevents.Stats`, or any object with some of its fields).
        feed: the ``feed`` label (tells several collectors apart).
        registry: where to register (None: do not register).
        prefix: the metric name prefix.

    Raises:
        TypeError: ``source`` has no ``stats``.
    """

    def __init__(
        self,
        source: Any,
        *,
        feed: str = "feed",
        registry: CollectorRegistry | None = REGISTRY,
        prefix: str = "wsevents",
    ) -> None:
        if not hasattr(source, "stats"):
            raise TypeError(f"{type(source).__name__} has no stats to expose")
        self.source = source
        self.feed = feed
        self.prefix = prefix
        self._lock = threading.Lock()
        #: disconnects by reason, handovers: counted from lifecycle events
        self._reasons: dict[str, int] = {}
        self._handovers = 0
        on = getattr(source, "on", None)
        if callable(on):
            on(DISCONNECT, self._on_disconnect)
            on(HANDOVER, self._on_handover)
        if registry is not None:
            registry.register(self)

    def _on_disconnect(self, event: Any) -> None:
        reason = getattr(getattr(event, "reason", None), "value", "unknown")
        with self._lock:
            self._reasons[reason] = self._reasons.get(reason, 0) + 1

    def _on_handover(self, event: Any) -> None:
        with self._lock:
            self._handovers += 1

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the metrics depend on what the source exposes."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """The metrics, from the source's ``stats`` (and its shards') now."""
        prefix = self.prefix
        shards = [(str(getattr(s, "id", i)), s.stats) for i, s in enumerate(_shards(self.source))]
        parts = [("", self.source.stats), *shards]
        labels = ["feed", "shard"] if shards else ["feed"]

        def values(stats: Any, shard: str) -> list[str]:
            # the pool's own stats (the aggregate) carry shard="" next to its shards
            return [self.feed, shard] if shards else [self.feed]

        for name in (*COUNTERS, *BUS_COUNTERS):
            family = CounterMetricFamily(f"{prefix}_{name}", f"Stats.{name}", labels=labels)
            for shard, stats in parts:
                value = getattr(stats, name, None)
                if value is not None:
                    family.add_metric(values(stats, shard), value)
            if family.samples:
                yield family
        for attr, metric in GAUGES:
            gauge = GaugeMetricFamily(f"{prefix}_{metric}", f"Stats.{attr}", labels=labels)
            for shard, stats in parts:
                value = getattr(stats, attr, None)
                if value is not None:
                    gauge.add_metric(values(stats, shard), value)
            if gauge.samples:
                yield gauge
        latency = GaugeMetricFamily(
            f"{prefix}_latency_seconds",
            "receive time minus event time over the window (quantile 1: the max)",
            labels=[*labels, "channel", "quantile"],
        )
        samples = GaugeMetricFamily(
            f"{prefix}_latency_samples",
            "latency samples in the window",
            labels=[*labels, "channel"],
        )
        for shard, stats in parts:
            for channel, summary in sorted((getattr(stats, "latency", None) or {}).items()):
                base = values(stats, shard)
                for quantile, field in _QUANTILES:
                    latency.add_metric([*base, channel, quantile], getattr(summary, field))
                samples.add_metric([*base, channel], summary.count)
        yield latency
        yield samples
        with self._lock:
            reasons = dict(self._reasons)
            handovers = self._handovers
        by_reason = CounterMetricFamily(
            f"{prefix}_disconnects_by_reason",
            "disconnect events by reason",
            labels=["feed", "reason"],
        )
        for reason, count in sorted(reasons.items()):
            by_reason.add_metric([self.feed, reason], count)
        yield by_reason
        handover = CounterMetricFamily(f"{prefix}_handovers", "handover events", labels=["feed"])
        handover.add_metric([self.feed], handovers)
        yield handover
        yield from self._state()

    def _state(self) -> Iterator[Metric]:
        state = getattr(self.source, "state", None)
        connected = getattr(self.source, "connected", None)
        if isinstance(connected, bool):
            family = GaugeMetricFamily(
                f"{self.prefix}_connected", "1 while a connection is open", labels=["feed"]
            )
            family.add_metric([self.feed], int(connected))
            yield family
        if isinstance(state, State):
            family = GaugeMetricFamily(
                f"{self.prefix}_state", "1 for the current state", labels=["feed", "state"]
            )
            for each in State:
                family.add_metric([self.feed, each.value], int(each is state))
            yield family


def _shards(source: Any) -> list[Any]:
    """A pool's shards (duck-typed: ``shards`` of objects with ``stats``), or none."""
    shards = getattr(source, "shards", None)
    if shards is None:
        return []
    return [shard for shard in shards if hasattr(shard, "stats")]


def start_http_server(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY
) -> Any:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread (prometheus_client's).

    Returns:
        What ``prometheus_client.start_http_server`` returns: ``(server, thread)``;
        ``server.shutdown()`` stops it.
    """
    return _serve(port, addr=addr, registry=registry)
