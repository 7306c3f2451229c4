"""The router daemon (aiohttp shell): proxying with the simulated network, health
checks and failover, admin and stats endpoints, batched recording. Routing itself
is the pure `router.policies`; statistics the pure `router.stats`."""

from router.daemon.app import make_app

__all__ = ["make_app"]
