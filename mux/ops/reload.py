"""Reloading the gateway's configuration without dropping a connection.

Theory of operation
-------------------
The gateway's listeners do not call a :class:`~mux.gateway.forward.Forwarder`
directly but a :class:`Switch`, which hands each request to the *current*
:class:`Generation` (a route table and the clusters it routes to, with their
pools and health checks) and counts the requests in flight per generation.

:meth:`Reloader.reload` (SIGHUP, or ``POST /reload`` on the admin listener)
loads the configuration again with the same code, hence the same key-path
errors, as at startup. Then:

* an invalid file, or one whose listeners or admin address differ from the
  running ones (they need a restart: the sockets stay as they are), is
  **refused**: the errors are logged and returned (the admin API answers 400
  with them) and the running generation keeps serving untouched;
* a valid one opens a new generation (every cluster anew: new pools, health
  checks from scratch) in the reloader's nursery, then, in one synchronous
  step, becomes current: every request that arrives from then on uses the new
  routes and clusters, and no connection (downstream or upstream) is closed by
  the switch. The old generation is *retired*: it closes its clusters (GOAWAY
  to upstreams) only once its last in-flight request finished.

Reloads run one at a time. At shutdown, once the listeners drained, every
generation is retired and closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs
import trio

from mux.gateway.cluster import Cluster, open_clusters
from mux.gateway.config import ConfigError
from mux.gateway.forward import Forwarder
from mux.gateway.model import GatewayConfig
from mux.gateway.routes import build_table

if TYPE_CHECKING:
    from mux.server.app import Request

logger = logging.getLogger("mux.gateway")


@attrs.define(eq=False)
class Generation:
    """One configuration's routes and clusters."""

    config: GatewayConfig
    forwarder: Forwarder
    clusters: Mapping[str, Cluster]
    retired: trio.Event = attrs.field(factory=trio.Event)
    #: Set when retired and the last in-flight request finished.
    idle: trio.Event = attrs.field(factory=trio.Event)
    inflight: int = 0
    #: True once its clusters closed.
    closed: bool = False


async def run_generation(
    config: GatewayConfig, *, task_status: trio.TaskStatus[Generation] = trio.TASK_STATUS_IGNORED
) -> None:
    """Open ``config``'s clusters; close them once retired and idle."""
    generation = None
    try:
        async with open_clusters(config.clusters) as clusters:
            forwarder = Forwarder(build_table(config.routes), clusters)
            generation = Generation(config, forwarder, clusters)
            task_status.started(generation)
            await generation.retired.wait()
            if generation.inflight:
                await generation.idle.wait()
    finally:
        if generation is not None:
            generation.closed = True


class Switch:
    """The listeners' handler: the current generation's forwarder."""

    def __init__(self, first: Generation) -> None:
        self.current = first
        #: Every generation not closed yet (the current one last).
        self.generations = [first]

    async def __call__(self, request: Request) -> None:
        generation = self.current
        generation.inflight += 1
        try:
            await generation.forwarder(request)
        finally:
            generation.inflight -= 1
            if not generation.inflight and generation.retired.is_set():
                generation.idle.set()

    def install(self, generation: Generation) -> None:
        """Make ``generation`` current; retire the others."""
        old = self.current
        self.current = generation
        self.generations = [g for g in self.generations if not g.closed]
        self.generations.append(generation)
        old.retired.set()

    def open_generations(self) -> list[Generation]:
        """The generations whose clusters are still open (retired ones draining)."""
        return [g for g in self.generations if not g.closed]

    def retire_all(self) -> None:
        for generation in self.generations:
            generation.retired.set()


def restart_needed(old: GatewayConfig, new: GatewayConfig) -> list[str]:
    """What ``new`` changes that a reload cannot apply."""
    problems = []
    if old.listeners != new.listeners:
        problems.append(
            f"{new.source or 'config'}: listeners: changed; a reload applies routes and "
            "clusters only, restart the gateway to change listeners"
        )
    if old.admin != new.admin:
        problems.append(
            f"{new.source or 'config'}: admin: changed; restart the gateway to move the admin "
            "listener"
        )
    return problems


class Reloader:
    """Reload on demand (see the module docstring).

    Args:
        nursery: where new generations run (outlives the listeners).
        switch: the listeners' handler.
        load: reads the configuration again (raises ConfigError).
        applied: called with each configuration applied.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        switch: Switch,
        load: Callable[[], GatewayConfig],
        applied: Callable[[GatewayConfig], None],
    ) -> None:
        self._nursery = nursery
        self._switch = switch
        self._load = load
        self._applied = applied
        self._lock = trio.Lock()
        #: Reloads applied / refused since the start.
        self.applied = 0
        self.refused = 0

    async def reload(self) -> list[str]:
        """Apply the configuration read now; return why not (empty: applied)."""
        async with self._lock:
            errors = await self._reload()
            if errors:
                self.refused += 1
                logger.error("reload refused; the running configuration keeps serving:")
                for line in errors:
                    logger.error("  %s", line)
            else:
                self.applied += 1
            return errors

    async def _reload(self) -> list[str]:
        try:
            config = await trio.to_thread.run_sync(self._load)
        except ConfigError as exc:
            return list(exc.errors)
        problems = restart_needed(self._switch.current.config, config)
        if problems:
            return problems
        try:
            generation: Generation = await self._nursery.start(run_generation, config)
        except Exception as exc:  # a cluster that cannot start: keep the old one
            return [f"{config.source or 'config'}: cannot start the clusters: {exc}"]
        self._switch.install(generation)
        self._applied(config)
        logger.info(
            "reloaded %s: %d route(s), %d cluster(s); the previous clusters close once "
            "their requests finish",
            config.source or "the configuration",
            len(config.routes),
            len(config.clusters),
        )
        return []


__all__ = ["Generation", "Reloader", "Switch", "restart_needed", "run_generation"]
