"""`georoute dash`: follow a live router, or replay a recorded run, in the terminal.

Imports nothing heavy at module import (Textual, aiohttp and sqlite-utils load only
when the command runs), so `georoute --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from georoute.cli import CLIError

if TYPE_CHECKING:
    from dashboards.app import DashApp

DEFAULT_ROUTER_URL = "http://127.0.0.1:8080"
TOKEN_ENV = "GEOROUTE_ADMIN_TOKEN"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dash",
        help="terminal dashboard: live router or a replayed run",
        description="Textual dashboard of end-to-end latency across regions. Follows a "
        "running router (SSE, falling back to polling) and acts through its admin API "
        f"with ${TOKEN_ENV}; or, with --db, replays a recorded run at --speed with "
        "pause and seek.",
    )
    p.add_argument(
        "--router",
        metavar="URL",
        default=None,
        help=f"router base URL (default $GEOROUTE_ROUTER_URL or {DEFAULT_ROUTER_URL})",
    )
    p.add_argument("--token", default=None, help=f"admin bearer token (default ${TOKEN_ENV})")
    p.add_argument("--db", metavar="PATH", default=None, help="replay from this results database")
    p.add_argument("--run", metavar="ID", default=None, help="run id to replay (default: latest)")
    p.add_argument(
        "--speed", type=float, default=None, help="replay speed, run seconds per second (default 1)"
    )
    p.add_argument(
        "--screenshot",
        metavar="SVG",
        default=None,
        help="run headless, save an SVG screenshot after --after seconds, and exit",
    )
    p.add_argument("--after", type=float, default=6.0, help="seconds before --screenshot")
    p.add_argument(
        "--size",
        default="160x48",
        metavar="COLSxROWS",
        help="terminal size for --screenshot (default 160x48)",
    )
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CLIError(f"--size: expected COLSxROWS like 160x48, got {text!r}") from None
    if cols < 40 or rows < 12:
        raise CLIError(f"--size: at least 40x12, got {text!r}")
    return cols, rows


def build_app(args: argparse.Namespace) -> DashApp:
    """Validate the flags and make the app with its source (no I/O but reading --db)."""
    from dashboards.app import DashApp

    if args.db is None:
        if args.run is not None or args.speed is not None:
            flag = "--run" if args.run is not None else "--speed"
            raise CLIError(f"{flag} needs --db (it steers a replay)")
        url = args.router or os.environ.get("GEOROUTE_ROUTER_URL") or DEFAULT_ROUTER_URL
        if not url.startswith(("http://", "https://")):
            raise CLIError(f"--router: expected an http:// or https:// URL, got {url!r}")
        from dashboards.sources import HTTPSource

        token = args.token or os.environ.get(TOKEN_ENV)
        return DashApp(HTTPSource(url, token))
    if args.router is not None:
        raise CLIError("--router and --db are exclusive: follow a router or replay a run")
    speed = 1.0 if args.speed is None else args.speed
    if not speed > 0:
        raise CLIError(f"--speed: must be positive, got {args.speed}")
    from dashboards.replay import ReplaySource, load_timeline

    db = Path(args.db)
    if not db.is_file():
        raise CLIError(f"--db: no such file: {db}")
    try:
        run_id, timeline = load_timeline(db, args.run)
    except LookupError as exc:
        flag = "--run" if args.run is not None and "run" in str(exc) else "--db"
        raise CLIError(f"{flag}: {exc}") from None
    return DashApp(ReplaySource(db, run_id, speed, timeline=timeline))


def _exit_on_sigterm(app: DashApp) -> None:
    """SIGTERM (from `up --dash` or a supervisor) quits cleanly, restoring the terminal."""
    import asyncio
    import contextlib
    import signal

    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, app.exit)


def run(args: argparse.Namespace) -> int:
    size = _size(args.size) if args.screenshot else None
    app = build_app(args)
    app.call_later(_exit_on_sigterm, app)
    if args.screenshot is None:
        app.run()
        return 0
    if args.after < 0:
        raise CLIError(f"--after: must be >= 0, got {args.after}")
    out = Path(args.screenshot)
    if not out.parent.is_dir():
        raise CLIError(f"--screenshot: no such directory: {out.parent}")

    def shoot() -> None:
        app.save_screenshot(filename=out.name, path=str(out.parent))
        app.exit()

    app.call_later(lambda: app.set_timer(args.after, shoot))
    app.run(headless=True, size=size)
    if not out.exists():
        print(f"stopped before the screenshot: {out} not written")
        return 1
    print(f"saved {out}")
    return 0
