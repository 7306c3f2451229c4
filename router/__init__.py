"""The global router: geography, network model, routing policies, traffic and the
virtual-time simulator (pure), plus the aiohttp daemon, results store and CLI (shells)."""
