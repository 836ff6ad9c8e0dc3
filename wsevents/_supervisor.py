"""The lifecycle supervisor: a pure state machine (layer L2).

It is *told* what happened — an attempt succeeded or failed, the connection
was lost, a policy tick, a user request — and *answers* what to do next: emit
this payload, wait this long and connect, pause, stop.  It never does I/O and
never reads a clock: every method that needs the time takes ``now`` (monotonic
seconds).  ``wsevents.connection`` carries out its answers; the decisions
themselves (retry or not, how long to wait, when a policy fires) are made here
and tested without sockets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Literal

import attrs

from .backoff import Backoff
from .events import (
    Closed,
    CloseReason,
    Connected,
    Disconnected,
    DisconnectReason,
    Reconnecting,
    State,
)
from .exceptions import ConnectError, HandshakeRejected, PolicyError, ReconnectExhausted
from .policies._base import (
    DisconnectPolicy,
    PolicyContext,
    ReconnectPolicy,
    evaluate_reconnect,
)


__all__ = [
    "Disconnect",
    "Failure",
    "Loss",
    "Pause",
    "PolicyFailed",
    "Retry",
    "Stop",
    "Supervisor",
    "classify_close",
    "classify_failure",
    "default_should_retry",
    "parse_retry_after",
]

FailureKind = Literal["network", "timeout", "tls", "status", "invalid"]


@attrs.frozen(kw_only=True)
class Failure:
    """A failed connection attempt, as the I/O layer saw it."""

    #: the exception raised by the attempt (mapped to a wsevents error)
    error: BaseException
    #: what kind of failure it was
    kind: FailureKind = "network"
    #: the HTTP status of a rejected handshake
    status: int | None = None
    #: the server's Retry-After, in seconds from now
    retry_after: float | None = None
    #: the close code of a server that closed right after accepting the handshake
    close_code: int | None = None


@attrs.frozen(kw_only=True)
class Loss:
    """How an established connection ended."""

    reason: DisconnectReason
    code: int | None = None
    reason_text: str = ""


# -- decisions -----------------------------------------------------------------


@attrs.frozen
class Retry:
    """Emit ``reconnecting`` with :attr:`event`, wait ``event.delay``, then connect."""

    event: Reconnecting

    @property
    def delay(self) -> float:
        return self.event.delay


@attrs.frozen
class Pause:
    """Stay disconnected (state PAUSED) until ``until`` (monotonic), a policy, or ``resume()``."""

    until: float | None


@attrs.frozen
class Stop:
    """Terminal: emit ``closed`` with :attr:`event`; ``run()`` raises ``event.error`` if set."""

    event: Closed


@attrs.frozen
class Disconnect:
    """Close the current connection proactively, with this reason."""

    reason: DisconnectReason


@attrs.frozen
class PolicyFailed:
    """A policy raised or answered nonsense: emit ``error``; the state is unchanged."""

    error: PolicyError


def parse_retry_after(value: str | None, *, now_epoch: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (delta-seconds or HTTP date).

    Args:
        value: the header value, or None.
        now_epoch: the current wall-clock time (seconds since the epoch), for
            the HTTP-date form.

    Returns:
        A non-negative number of seconds, or None when absent or unparsable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_epoch)


def default_should_retry(failure: Failure) -> bool:
    """The default classification of a failed attempt: retry it, or give up?

    * network errors and handshake timeouts: retry;
    * TLS failures (an untrusted certificate): give up, retrying cannot help;
    * HTTP 408, 425, 429 and every 5xx: retry (honouring ``Retry-After``);
    * any other HTTP status (401, 403, 404, 400, a plain web server's 200, ...):
      give up, the server will answer the same again;
    * an invalid handshake response: give up.
    """
    if failure.kind in ("network", "timeout"):
        return True
    if failure.kind == "status" and failure.status is not None:
        return failure.status in (408, 425, 429) or 500 <= failure.status <= 599
    return False


def classify_failure(
    error: ConnectError, *, now_epoch: float, close_code: int | None = None
) -> Failure:
    """The :class:`Failure` of an attempt that raised ``error`` (a transport's error).

    Args:
        error: what the attempt raised: its ``kind`` says what failed, a
            :class:`HandshakeRejected` carries the status and ``Retry-After``.
        now_epoch: the wall clock (seconds since the epoch), for an HTTP-date
            ``Retry-After``.
        close_code: the close code of a server that closed right after accepting.
    """
    if isinstance(error, HandshakeRejected):
        return Failure(
            error=error,
            kind="status",
            status=error.status,
            retry_after=parse_retry_after(error.retry_after, now_epoch=now_epoch),
            close_code=close_code,
        )
    kind = error.kind if error.kind in ("network", "timeout", "tls", "invalid") else "network"
    return Failure(error=error, kind=kind, close_code=close_code)  # type: ignore[arg-type]


def classify_close(
    *,
    rcvd_code: int | None,
    rcvd_reason: str,
    sent_code: int | None,
    sent_reason: str,
    rcvd_then_sent: bool | None,
    initiated: DisconnectReason | None,
) -> Loss:
    """Name the reason an established connection ended, from its close frames.

    Args:
        rcvd_code, rcvd_reason: the close frame received from the server, if any.
        sent_code, sent_reason: the close frame the client sent, if any.
        rcvd_then_sent: True when the server closed first.
        initiated: the reason the client itself was closing for, if it was.
    """
    if initiated is not None:
        return Loss(reason=initiated, code=sent_code, reason_text=sent_reason)
    if rcvd_code is not None and (rcvd_then_sent or sent_code is None):
        if rcvd_code in (1002, 1003, 1007, 1009):
            reason = DisconnectReason.PROTOCOL_ERROR
        else:
            reason = DisconnectReason.SERVER_CLOSE
        return Loss(reason=reason, code=rcvd_code, reason_text=rcvd_reason)
    if sent_code == 1011 and "ping" in sent_reason:
        return Loss(reason=DisconnectReason.PING_TIMEOUT, code=sent_code, reason_text=sent_reason)
    if sent_code in (1002, 1003, 1007, 1009):
        return Loss(reason=DisconnectReason.PROTOCOL_ERROR, code=sent_code, reason_text=sent_reason)
    return Loss(reason=DisconnectReason.NETWORK_ERROR, code=1006, reason_text=sent_reason)


class Supervisor:
    """Decides when to connect, wait, pause and give up.

    Args:
        backoff: delays between attempts.
        max_attempts: consecutive failed attempts before giving up (None: never;
            0: never reconnect, not even after a lost connection).
        stable_after: seconds a connection must have been up for the backoff to
            start over when it is lost; a connection lost sooner continues the
            current run of growing delays (no reconnect storm against a server
            that accepts and closes at once).
        server_unavailable_delay: minimum wait after close code 1013.
        reconnect_on_clean_close: whether a server's 1000/1001 close is followed
            by a reconnect (True) or ends the connection for good (False).
        should_retry: classifies failed attempts (retry → True); default
            :func:`default_should_retry`.
        should_disconnect, should_reconnect: the policies asked on every tick.
    """

    def __init__(
        self,
        *,
        backoff: Backoff,
        max_attempts: int | None = None,
        stable_after: float = 30.0,
        server_unavailable_delay: float = 30.0,
        reconnect_on_clean_close: bool = True,
        should_retry: Callable[[Failure], bool] | None = None,
        should_disconnect: DisconnectPolicy | None = None,
        should_reconnect: ReconnectPolicy | None = None,
    ) -> None:
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.stable_after = stable_after
        self.server_unavailable_delay = server_unavailable_delay
        self.reconnect_on_clean_close = reconnect_on_clean_close
        self.should_retry = should_retry or default_should_retry
        self.should_disconnect = should_disconnect
        self.should_reconnect = should_reconnect
        self.state = State.IDLE
        #: attempt number since the last connection (1-based)
        self.attempt = 0
        #: position in the backoff sequence; unlike ``attempt`` it only starts
        #: over after a connection that stayed up ``stable_after`` seconds
        self.step = 0
        #: consecutive failed attempts
        self.failures = 0
        self.ever_connected = False
        self.connected_at: float | None = None
        self.down_since: float | None = None
        self.paused_since: float | None = None
        self.resume_at: float | None = None
        self.down_reason = DisconnectReason.NETWORK_ERROR
        self.last_error: BaseException | None = None

    # -- attempts -------------------------------------------------------------

    def start(self) -> None:
        """The first attempt is about to be made (``connect()``/``run()``)."""
        if self.state is not State.IDLE:
            raise RuntimeError(f"cannot start from state {self.state.name}")
        self.state = State.CONNECTING
        self.attempt = 1
        self.step = 1

    def attempting(self) -> None:
        """The wait of a :class:`Retry` is over; the attempt starts now."""
        if self.state in (State.RECONNECTING, State.PAUSED):
            self.state = State.CONNECTING

    def connected(self, now: float, *, url: str) -> Connected:
        """The attempt succeeded and subscriptions were sent: the ``connect`` payload."""
        event = Connected(
            url=url,
            attempt=max(self.attempt, 1),
            is_reconnect=self.ever_connected,
            downtime=0.0 if self.down_since is None else max(0.0, now - self.down_since),
        )
        self.state = State.CONNECTED
        self.ever_connected = True
        self.connected_at = now
        self.down_since = None
        self.paused_since = None
        self.resume_at = None
        self.failures = 0
        self.last_error = None
        return event

    def connect_failed(self, now: float, failure: Failure) -> Retry | Stop:
        """The attempt failed: retry after a delay, or give up."""
        self.failures += 1
        self.last_error = failure.error
        if self.down_since is None:
            self.down_since = now
        if not self.should_retry(failure) or self.max_attempts == 0:
            if isinstance(failure.error, HandshakeRejected):
                detail = f"handshake rejected with HTTP {failure.error.status}"
                return self._stop(CloseReason.REJECTED, detail, failure.error)
            detail = f"connection failed: {failure.error}"
            return self._stop(CloseReason.FAILED, detail, failure.error)
        if self.max_attempts is not None and self.failures >= self.max_attempts:
            error = ReconnectExhausted(self.failures, failure.error)
            error.__cause__ = failure.error
            detail = f"gave up after {self.failures} failed attempts"
            return self._stop(CloseReason.EXHAUSTED, detail, error)
        self.attempt += 1
        self.step += 1
        delay = self.backoff.delay(self.step)
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        if failure.close_code == 1013:
            delay = max(delay, self.server_unavailable_delay)
        reason = (
            DisconnectReason.NETWORK_ERROR
            if failure.close_code is None
            else DisconnectReason.SERVER_CLOSE
        )
        return self._retry(delay, reason, failure.error)

    # -- established connections ---------------------------------------------

    def lost(
        self, now: float, loss: Loss
    ) -> tuple[Disconnected, Retry | Pause | Stop]:
        """The established connection ended: the ``disconnect`` payload and what next."""
        uptime = 0.0 if self.connected_at is None else max(0.0, now - self.connected_at)
        reason = loss.reason
        event = Disconnected(
            reason=reason,
            code=loss.code,
            reason_text=loss.reason_text,
            proactive=reason.proactive,
            uptime=uptime,
        )
        self.connected_at = None
        self.down_since = now
        self.down_reason = reason
        self.attempt = 0
        if reason is DisconnectReason.SHUTDOWN or self.state in (State.CLOSING, State.CLOSED):
            self.state = State.CLOSING
            return event, Stop(Closed(reason=CloseReason.USER))
        if reason.proactive:
            # A chosen disconnect never counts as a failure: start a fresh run.
            self.step = 0
            self.failures = 0
            if self.resume_at is not None or self.paused_since is not None:
                self.state = State.PAUSED
                self.paused_since = now
                return event, Pause(self.resume_at)
            return event, self._next_attempt(0.0, reason, None)
        if uptime >= self.stable_after:
            self.step = 0
        if reason is DisconnectReason.SERVER_CLOSE and loss.code in (1000, 1001):
            if not self.reconnect_on_clean_close:
                detail = f"server closed the connection ({loss.code} {loss.reason_text})"
                return event, self._stop(CloseReason.SERVER_CLOSED, detail.strip(), None)
        if self.max_attempts == 0:
            detail = f"connection lost ({reason.value}, code {loss.code}); max_reconnect_attempts=0"
            return event, self._stop(CloseReason.NOT_RECONNECTING, detail, None)
        minimum = self.server_unavailable_delay if loss.code == 1013 else 0.0
        self.attempt += 1
        self.step += 1
        delay = max(self.backoff.delay(self.step), minimum)
        return event, self._retry(delay, reason, None)

    def handed_over(self, now: float, *, url: str) -> tuple[Connected, Disconnected]:
        """A make-before-break handover switched connections.

        Returns the payloads of the new connection's ``connect`` and of the
        old one's ``disconnect`` (reason ``HANDOVER``).  The state stays CONNECTED.
        """
        uptime = 0.0 if self.connected_at is None else max(0.0, now - self.connected_at)
        disconnected = Disconnected(
            reason=DisconnectReason.HANDOVER,
            code=1000,
            reason_text="handover",
            proactive=True,
            uptime=uptime,
        )
        connected = Connected(url=url, attempt=1, is_reconnect=True, downtime=0.0)
        self.connected_at = now
        self.attempt = 0
        self.step = 0
        self.failures = 0
        self.paused_since = None
        self.resume_at = None
        return connected, disconnected

    # -- proactive control -----------------------------------------------------

    def request_disconnect(
        self, now: float, *, reconnect_after: float | None, reason: DisconnectReason
    ) -> Disconnect | Pause | None:
        """``request_disconnect()`` or a policy: disconnect now and pause.

        Returns :class:`Disconnect` when a connection is up (its loss comes back
        through :meth:`lost`), :class:`Pause` when no connection is up (a pending
        reconnect is cancelled), None before :meth:`start` and when closing.
        """
        if self.state in (State.IDLE, State.CLOSING, State.CLOSED):
            return None
        self.resume_at = None if reconnect_after is None else now + reconnect_after
        if self.state is State.CONNECTED:
            self.paused_since = now
            if reason is DisconnectReason.POLICY and reconnect_after is None:
                # With no should_reconnect policy, a policy disconnect is a
                # recycle: reconnect at once (MaxConnectionAge).
                if self.should_reconnect is None:
                    self.paused_since = None
            return Disconnect(reason)
        self.state = State.PAUSED
        self.paused_since = now
        self.attempt = 0
        self.step = 0
        self.failures = 0
        return Pause(self.resume_at)

    def resume(self, now: float) -> Retry | None:
        """``resume()``: reconnect now if paused (or cut a pending backoff wait short)."""
        if self.state not in (State.PAUSED, State.RECONNECTING):
            return None
        self.resume_at = None
        self.paused_since = None
        return self._next_attempt(0.0, self.down_reason, None)

    def tick(self, ctx: PolicyContext) -> Disconnect | Retry | PolicyFailed | None:
        """Ask the policies, every ``check_interval``; an answer that needs action, or None."""
        if self.state is State.CONNECTED and self.should_disconnect is not None:
            try:
                answer: object = self.should_disconnect.should_disconnect(ctx)
            except Exception as exc:  # noqa: BLE001 - any policy bug becomes an error event
                return self._policy_failed("should_disconnect", exc)
            if answer is True:
                self.resume_at = None
                decision = self.request_disconnect(
                    ctx.monotonic, reconnect_after=None, reason=DisconnectReason.POLICY
                )
                assert isinstance(decision, Disconnect)
                return decision
            if answer is not False:
                return self._policy_failed(
                    "should_disconnect", TypeError(f"answered {answer!r}, not True or False")
                )
            return None
        if self.state is State.PAUSED:
            if self.resume_at is not None and ctx.monotonic >= self.resume_at:
                return self.resume(ctx.monotonic)
            if self.should_reconnect is not None:
                try:
                    wait = evaluate_reconnect(self.should_reconnect.should_reconnect(ctx))
                except Exception as exc:  # noqa: BLE001 - any policy bug becomes an error event
                    return self._policy_failed("should_reconnect", exc)
                if wait is not None:
                    if wait <= 0:
                        return self.resume(ctx.monotonic)
                    self.resume_at = ctx.monotonic + wait
        return None

    def is_stale(
        self, now: float, last_message_at: float | None, stale_after: float | None
    ) -> bool:
        """Whether a connected feed has been silent for ``stale_after`` seconds."""
        return (
            self.state is State.CONNECTED
            and stale_after is not None
            and last_message_at is not None
            and now - last_message_at >= stale_after
        )

    def is_recycle(self, decision: Disconnect, *, handover: bool) -> bool:
        """Whether a policy's disconnect is a recycle, done make-before-break: the
        ``handover`` option is on and nothing asks to stay paused afterwards."""
        return (
            handover
            and decision.reason is DisconnectReason.POLICY
            and self.paused_since is None
            and self.resume_at is None
        )

    def wake_at(self, now: float, check_interval: float) -> float:
        """When the I/O layer should call :meth:`tick` next (monotonic)."""
        nxt = now + check_interval
        if self.resume_at is not None:
            nxt = min(nxt, self.resume_at)
        return nxt

    # -- closing ----------------------------------------------------------------

    def closing(self) -> None:
        """``close()`` was called."""
        if self.state is not State.CLOSED:
            self.state = State.CLOSING

    def closed(self) -> None:
        """Everything is torn down."""
        self.state = State.CLOSED

    # -- helpers ------------------------------------------------------------------

    def _next_attempt(
        self, delay: float, reason: DisconnectReason, error: BaseException | None
    ) -> Retry:
        self.attempt += 1
        self.step += 1
        return self._retry(delay, reason, error)

    def _retry(
        self, delay: float, reason: DisconnectReason, error: BaseException | None
    ) -> Retry:
        if not math.isfinite(delay) or delay < 0:
            delay = 0.0
        self.state = State.RECONNECTING
        return Retry(
            Reconnecting(attempt=self.attempt, delay=delay, reason=reason, error=error)
        )

    def _stop(self, reason: CloseReason, detail: str, error: BaseException | None) -> Stop:
        self.state = State.CLOSING
        return Stop(Closed(reason=reason, error=error, detail=detail))

    def _policy_failed(self, name: str, exc: Exception) -> PolicyFailed:
        error = PolicyError(f"{name} policy failed: {exc!r}")
        error.__cause__ = exc
        return PolicyFailed(error)
