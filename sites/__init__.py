"""Regional inference sites: hardware and model catalogs, step-time physics, engine
simulators (pure), and the aiohttp OpenAI-compatible site server (shell)."""
