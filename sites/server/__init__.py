"""The site server: an aiohttp shell around one engine simulator (OpenAI API).

Import `sites.server.app.make_app` or `sites.server.runner.run_sites`; this package
file imports nothing so that the pure helpers (`tokens`, `faults`, `openai_api`)
stay importable without aiohttp.
"""
