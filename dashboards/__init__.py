"""Textual terminal dashboard of end-to-end latency; talks to the router over HTTP."""
