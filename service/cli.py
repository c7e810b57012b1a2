"""The ``presta`` command: serve, worker, scheduler, migrate, demo-data, export-schema, ..."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from presta import logs
from presta.settings import SettingsError, get_settings, settings

log = logging.getLogger("presta")


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from service import serving, ws

    _listen_on(args.host, args.port)
    cfg = settings()
    if cfg.trusted_documents is not None:
        _check_trusted_documents(cfg.trusted_documents)
    if args.demo:
        mail = None
        if cfg.mail_enabled and cfg.environment != "production":
            from service.mailcatcher import start_for_demo

            mail, _ = start_for_demo(Path("var") / "mail")
        asyncio.run(_prepare_demo(mail))
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=args.host or cfg.host,
        port=args.port or cfg.port,
        log_level=cfg.log_level.lower(),
        log_config=None,  # uvicorn's lines go through our handler: one format, the request id
        # uvicorn's line per request costs ~23 us of CPU and is not JSON: in production
        # /metrics counts requests and the proxy in front logs them.
        access_log=cfg.environment != "production",
        ws=ws.IMPORT_PATH if args.ws == "auto" else args.ws,
        ws_max_size=256 * 1024,
        ws_per_message_deflate=args.ws_per_message_deflate,
        ws_ping_interval=args.ws_ping_interval or None,
        proxy_headers=True,
    )
    if args.workers > 1:
        serving.serve(config, args.workers)
    else:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise SystemExit(serving.STARTUP_FAILURE)


def _check_trusted_documents(path: Path) -> None:
    """Each API process reads the manifest as it starts; a bad one is refused here, once, with
    its reason rather than a traceback per process."""
    from schema.http.manifest import load_manifest
    from schema.root import schema

    try:
        load_manifest(path, schema._schema)
    except SettingsError as exc:
        raise SystemExit(f"presta: configuration refused: {exc}") from None


def _listen_on(host: str | None, port: int | None) -> None:
    """--host and --port are PRESTA_HOST and PRESTA_PORT for this process and its workers: the
    public URL (links in e-mails, the banner) follows them unless PRESTA_PUBLIC_URL is set."""
    if host:
        os.environ["PRESTA_HOST"] = host
    if port:
        os.environ["PRESTA_PORT"] = str(port)
    get_settings.cache_clear()


async def _prepare_demo(mail: str | None = None) -> None:
    import workers.actors  # noqa: F401  (the demo's notifications run as jobs of this process)
    from presta import db, jobs
    from service import demo
    from service.migrate import migrate

    await migrate()
    await db.init_db()
    try:
        logins = await demo.load_demo_data()
        # The demo's notifications run as in-process jobs: let them finish on this database.
        await jobs.drain()
    finally:
        await db.close_db()
    print(demo.banner(logins, mail=mail), flush=True)


def _migrate(_: argparse.Namespace) -> None:
    from service.migrate import migrate

    asyncio.run(migrate())
    print("migrations applied")


def _demo_data(_: argparse.Namespace) -> None:
    asyncio.run(_prepare_demo())


def _export_schema(args: argparse.Namespace) -> None:
    from schema.root import schema

    text = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"schema written to {args.output}")


def _check_schema(args: argparse.Namespace) -> None:
    from service import contract

    if not contract.check(Path(args.released), Path(args.current), Path(args.changelog)):
        raise SystemExit(1)


def _create_platform_admin(args: argparse.Namespace) -> None:
    from presta import db
    from resolvers.account import create_platform_admin

    password = os.environ.get("PRESTA_ADMIN_PASSWORD") or getpass.getpass("Password: ")

    async def run() -> None:
        await db.init_db()
        try:
            user = await create_platform_admin(
                email=args.email, password=password, full_name=args.name
            )
            print(f"platform admin: {user.email}")
        finally:
            await db.close_db()

    asyncio.run(run())


def _worker(args: argparse.Namespace) -> None:
    from dramatiq import Worker

    import workers.actors  # noqa: F401  (registers the actors)
    from workers.broker import broker

    if settings().jobs_backend != "dramatiq":
        raise SystemExit("presta worker needs PRESTA_JOBS_BACKEND=dramatiq and PRESTA_REDIS_URL")
    worker = Worker(
        broker, worker_threads=args.threads, worker_timeout=settings().worker_timeout_ms
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    log.info("worker started (%d threads)", args.threads)
    stop.wait()
    worker.stop()


def _scheduler(_: argparse.Namespace) -> None:
    from workers.scheduler import run_periodic

    if settings().jobs_backend != "dramatiq":
        raise SystemExit("presta scheduler needs PRESTA_JOBS_BACKEND=dramatiq")
    asyncio.run(run_periodic())


def main(argv: list[str] | None = None) -> None:
    try:
        cfg = settings()
    except SettingsError as exc:
        raise SystemExit(f"presta: configuration refused: {exc}") from None
    logs.configure(cfg.log_level, json=cfg.logs_as_json)
    parser = argparse.ArgumentParser(prog="presta", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API (GraphQL at /graphql)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="migrate and load demo data first")
    serve.add_argument(
        "--ws",
        default="auto",
        choices=["auto", "websockets", "websockets-sansio"],
        help="websocket implementation (auto: websockets-sansio, the cheapest per message, "
        "without the handshake kept for the connection's life: service.ws)",
    )
    serve.add_argument(
        "--ws-per-message-deflate",
        action=argparse.BooleanOptionalAction,
        default=False,
        # Live messages are small JSON: compressing costs CPU per message and zlib state per
        # connection for little saving (measured in bench/dispatch_latency.py).
        help="compress websocket messages when the client offers it (default: no)",
    )
    serve.add_argument(
        "--ws-ping-interval",
        type=float,
        default=20.0,
        help="seconds between keep-alive pings of each websocket (0: none)",
    )
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="run dramatiq workers")
    worker.add_argument("--threads", type=int, default=8)
    worker.set_defaults(func=_worker)

    sub.add_parser("scheduler", help="enqueue the periodic sweeps").set_defaults(func=_scheduler)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    sub.add_parser("demo-data", help="load demo data").set_defaults(func=_demo_data)

    export = sub.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("output", nargs="?", default="schema.graphql")
    export.set_defaults(func=_export_schema)

    contract = sub.add_parser(
        "check-schema", help="compare schema.graphql with the released schema (make check)"
    )
    contract.add_argument("--released", default="schema/released.graphql")
    contract.add_argument("--current", default="schema.graphql")
    contract.add_argument("--changelog", default="CHANGELOG.md")
    contract.set_defaults(func=_check_schema)

    admin = sub.add_parser("create-platform-admin", help="create or promote a platform admin")
    admin.add_argument("email")
    admin.add_argument("--name", default="")
    admin.set_defaults(func=_create_platform_admin)

    args = parser.parse_args(argv)
    try:
        # The schema's commands read no database.
        if cfg.database_url or args.func in (_export_schema, _check_schema):
            args.func(args)
            return
        from service import embedded

        with embedded.database(cfg.embedded_dir):
            args.func(args)
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has shut down and raises it again once done; a traceback says nothing.
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
