"""The two loops: a push-mode engine (acquire, reconcile, release) and a pull-mode operator
(initialize, operator sync, reconcile), docs/behaviour.md §7 and §9.

Both take one step per deployment per tick and survive a failing server: an error answer or a
dropped connection ends the tick, the next one waits longer (doubling, while ticks make no
progress at all, up to `MAX_BACKOFF`), and
every lease the engine may hold is released as soon as the server lets it (a lease it cannot
release expires after the server's TTL anyway). Only a rejected token (401/403) stops a loop.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import IO, Any

import httpx

from simulator.api import Api, ApiError
from simulator.steps import FailureRules, Snapshot, Transition, advance

log = logging.getLogger("alien.simulate")

MAX_BACKOFF = 5.0  # seconds between attempts while the server keeps failing
MAX_IDS = 500  # deployment ids offered to one acquire (a random sample when there are more),
# halved while the server refuses that many (its limit on array lengths may be lower)
FATAL = (401, 403)


class Fatal(Exception):
    """The server refuses this token: nothing a retry can fix."""


def new_session(kind: str) -> str:
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{random.randbytes(4).hex()}"


class Summary:
    """A one-line live summary (counts by status), rewritten in place, on a terminal only."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None

    def show(self, tick: int, statuses: Iterable[str]) -> None:
        if self.stream is None:
            return
        counts = Counter(statuses)
        text = " · ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none"
        self.stream.write(f"\r\x1b[Ktick {tick} | {text}")
        self.stream.flush()


class Loop:
    """Ticks until stopped, backing off while the server fails."""

    def __init__(
        self,
        api: Api,
        *,
        tick: float,
        failures: FailureRules | None = None,
        session: str | None = None,
        stop: threading.Event | None = None,
        summary: IO[str] | None = None,
        parent_pid: int | None = None,
        observer: Callable[[Transition], None] | None = None,
    ) -> None:
        self.api = api
        self.tick_seconds = tick
        self.failures = failures or FailureRules()
        self.session = session or new_session("sim")
        self.stop = stop or threading.Event()
        self.summary = Summary(summary)
        self.parent_pid = parent_pid
        self.observer = observer
        self.ticks = 0
        self.transitions = 0
        self.errors = 0
        self._failing = 0

    def run(self) -> int:
        """Until `stop` is set (0) or the token is refused (2)."""
        log.info("simulator %s started, one step every %d ms", self.session, self.tick_ms)
        code = 0
        try:
            while not self.stop.is_set():
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    log.info("the server that started this engine is gone; stopping")
                    break
                self.ticks += 1
                done = self.transitions
                try:
                    self.tick()
                    self._failing = 0
                except (httpx.HTTPError, ApiError) as exc:
                    self.errors += 1
                    # steps that went through show the server is up: back off, but do not
                    # escalate; a tick with no progress at all doubles the wait again
                    self._failing = 1 if self.transitions > done else self._failing + 1
                    log.warning("tick %d failed (%s); next attempt in %.2fs",
                                self.ticks, _describe(exc), self._delay())  # fmt: skip
                self.stop.wait(self._delay())
        except Fatal as exc:
            log.error("%s", exc)
            code = 2
        finally:
            self.shutdown()
        log.info("simulator %s stopped after %d ticks, %d transitions, %d failed ticks",
                 self.session, self.ticks, self.transitions, self.errors)  # fmt: skip
        return code

    @property
    def tick_ms(self) -> int:
        return round(self.tick_seconds * 1000)

    def _delay(self) -> float:
        if not self._failing:
            return self.tick_seconds
        ceiling = max(MAX_BACKOFF, self.tick_seconds)
        delay: float = min(ceiling, self.tick_seconds * 2**self._failing)
        return delay * random.uniform(0.8, 1.0)

    def tick(self) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Give back what this loop may hold."""

    def _step(self, snap: Snapshot) -> Transition | None:
        transition = advance(snap, lambda rid: self.api.stack(rid, snap.platform), self.failures)
        if transition is None:
            return None
        self.api.reconcile(snap.id, self.session, transition.state)
        self.transitions += 1
        log.info("%s (%s): %s → %s [tick %d]", transition.deployment_id, transition.name,
                 transition.before, transition.after, self.ticks)  # fmt: skip
        if self.observer is not None:
            self.observer(transition)
        return transition


class Engine(Loop):
    """Push mode: drives every push-mode deployment the token can see (admin or group token)."""

    def __init__(self, api: Api, *, batch: int = 25, **options: Any) -> None:
        super().__init__(api, **options)
        self.batch = batch
        self.max_ids = MAX_IDS
        self.held: set[str] = set()  # leases this session has or may have: released asap

    def tick(self) -> None:
        self._release_held()
        try:
            listed = self.api.deployments()
        except ApiError as exc:
            _raise_if_fatal(exc)
            raise
        self.summary.show(self.ticks, (d["status"] for d in listed))
        ids = [d["id"] for d in listed if _ours(Snapshot.from_response(d))]
        if not ids:
            return
        if len(ids) > self.max_ids:
            ids = random.sample(ids, self.max_ids)
        self.held.update(ids)  # until acquire answers, any of them may be ours
        try:
            records = self.api.acquire(self.session, ids, self.batch)
        except ApiError as exc:
            if exc.status < 500:  # refused outright: nothing was leased
                self.held.difference_update(ids)
                _raise_if_fatal(exc)
            if exc.status == 400 and len(ids) > self.batch:  # the server's list limit is lower
                self.max_ids = max(self.batch, len(ids) // 2)
            raise
        self.held.difference_update(ids)
        self.held.update(r["id"] for r in records)
        failed: Exception | None = None
        for record in records:
            snap = Snapshot.from_record(record)
            try:
                if _ours(snap):
                    self._step(snap)
            except ApiError as exc:
                _raise_if_fatal(exc)
                if exc.status == 409:  # our lease went stale and another engine took over
                    log.warning("%s: lease lost (%s)", snap.id, exc)
                elif exc.status < 500:  # about this deployment only: the server is fine
                    log.error("%s: reconcile refused (%s)", snap.id, exc)
                else:
                    failed = exc
                    log.warning("%s: reconcile failed (%s)", snap.id, _describe(exc))
            except httpx.HTTPError as exc:
                failed = exc
                log.warning("%s: reconcile failed (%s)", snap.id, _describe(exc))
            self._release(snap.id)
        if failed is not None:
            raise failed

    def _release(self, deployment_id: str) -> bool:
        try:
            self.api.release(deployment_id, self.session)
        except (httpx.HTTPError, ApiError) as exc:
            log.warning("%s: release failed (%s); will retry", deployment_id, _describe(exc))
            return False
        self.held.discard(deployment_id)
        return True

    def _release_held(self) -> None:
        for deployment_id in sorted(self.held):
            if not self._release(deployment_id):
                raise httpx.TransportError("cannot release leases yet")

    def shutdown(self) -> None:
        for deployment_id in sorted(self.held):
            self._release(deployment_id)
        if self.held:
            log.warning("%d lease(s) not released; they expire after the server's TTL",
                        len(self.held))  # fmt: skip


class Operator(Loop):
    """Pull mode: plays the operator of the one deployment its deployment token belongs to."""

    def __init__(self, api: Api, **options: Any) -> None:
        options.setdefault("session", new_session("operator"))
        super().__init__(api, **options)
        self.deployment_id: str | None = None
        self.done = False

    def tick(self) -> None:
        try:
            if self.deployment_id is None:
                self.deployment_id = self.api.initialize()
                log.info("operator for %s", self.deployment_id)
            snap = Snapshot.from_response(self.api.deployment(self.deployment_id))
            target = self.api.operator_target(self.deployment_id)
            self.summary.show(self.ticks, [snap.status])
            if target:  # learn the target from operator sync, as a real operator does
                info = target["releaseInfo"]
                self.api.remember_stack(info["releaseId"], snap.platform, info["stack"])
                snap = replace(snap, desired_release_id=info["releaseId"])
            transition = self._step(snap)
        except ApiError as exc:
            if exc.status == 409:  # someone holds a lease on it right now: next tick
                log.info("%s is locked by another session; waiting", self.deployment_id)
                return
            _raise_if_fatal(exc)
            raise
        if transition is not None and transition.after == "deleted":
            # As the reference's operator in its `finally`: the server removes the deployment
            # (and revokes this token) once the lease reporting `deleted` gave it is released.
            self.api.release(self.deployment_id, self.session)
            log.info("%s deleted; the operator's work is done", self.deployment_id)
            self.done = True
            self.stop.set()


def _ours(snap: Snapshot) -> bool:
    """The push engine's share (§9): push-mode deployments with work and a release to do it."""
    return not snap.pull and snap.workable


def _raise_if_fatal(exc: ApiError) -> None:
    if exc.status in FATAL:
        raise Fatal(f"the server refuses this token ({exc}); stopping") from exc


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
