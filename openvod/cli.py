"""The ``openvod`` command line (typer + rich)."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from openvod.client import rest as api
from openvod.config import Settings, load_settings
from openvod.context import Context, open_context

app = typer.Typer(help="openvod: self-hosted media services for video on demand.",
                  no_args_is_help=True)
token_app = typer.Typer(help="Management API bearer tokens.", no_args_is_help=True)
account_app = typer.Typer(help="Media services accounts.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(account_app, name="account")
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
Server = Annotated[str, typer.Option("--server", envvar="OPENVOD_SERVER",
                                     help="Base URL of the API.")]
Token = Annotated[str | None, typer.Option("--token", envvar="OPENVOD_TOKEN",
                                           help="Bearer token (openvod token create).")]
Account = Annotated[str, typer.Option("--account", envvar="OPENVOD_ACCOUNT")]
Subscription = Annotated[str, typer.Option("--subscription", envvar="OPENVOD_SUBSCRIPTION")]
Group = Annotated[str, typer.Option("--resource-group", envvar="OPENVOD_RESOURCE_GROUP")]


def _settings(data_dir: Path | None, config: Path | None = None, **extra: Any) -> Settings:
    settings = load_settings(config or _env_config(), data_dir=data_dir, **extra)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Azure SDK and httpx log every HTTP request at INFO: keep the CLI's output readable.
    for library in ("azure", "httpx", "httpcore"):
        logging.getLogger(library).setLevel(logging.WARNING)
    return settings


def _env_config() -> Path | None:
    value = os.environ.get("OPENVOD_CONFIG")
    return Path(value) if value else None


@app.command()
def serve(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="API and origin port.")] = None,
    blob_port: Annotated[int | None, typer.Option(help="Blob service port (port+1).")] = None,
    public_url: Annotated[str | None, typer.Option(help="URL clients use.")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="HTTPS with a dev certificate.")] = False,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="No in-process worker.")] = False,
) -> None:
    """Run every component: management API, origin, blob service and a worker."""
    from openvod.serving.serve import Server as OpenvodServer
    from openvod.serving.tuning import tune_gc

    settings = _settings(data_dir, config, host=host, port=port, blob_port=blob_port,
                         public_url=public_url, tls=tls or None,
                         run_worker=False if no_worker else None)
    ctx = open_context(settings)
    console.print(
        f"openvod serving {settings.resolved_public_url} (blobs: "
        f"{settings.resolved_blob_public_url}, data: {settings.resolved_data_dir})"
    )
    server = OpenvodServer(ctx)
    tune_gc()  # the serving process's start-up objects stay out of collections
    server.run()


@app.command()
def origin(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Origin port.")] = None,
    workers: Annotated[int, typer.Option(help="Serving processes.")] = 2,
) -> None:
    """Run only the streaming origin, in several processes (stateless; scale out freely)."""
    import sys

    from openvod.httpd.supervisor import supervise

    settings = _settings(data_dir, config, host=host, port=port)
    open_context(settings)  # create the data folder and migrate once, before the servers start
    env = dict(os.environ)
    env["OPENVOD_DATA_DIR"] = str(settings.resolved_data_dir)
    env["OPENVOD_DATABASE_URL"] = settings.resolved_database_url
    env["OPENVOD_HOST"] = settings.host
    env["OPENVOD_PORT"] = str(settings.port)
    if config is not None:
        env["OPENVOD_CONFIG"] = str(config)
    console.print(f"openvod origin on {settings.host}:{settings.port} with {workers} processes")
    code = supervise([sys.executable, "-m", "openvod.serving.origin_process"], max(1, workers), env,
                     stop_seconds=settings.graceful_seconds + 2)
    raise typer.Exit(code)


@app.command()
def worker(data_dir: DataDir = None, config: ConfigFile = None) -> None:
    """Run a standalone job worker against the configured database and storage."""
    from openvod.worker.runner import Worker

    ctx = open_context(_settings(data_dir, config))
    stop = threading.Event()
    console.print("worker running; Ctrl-C to stop")
    try:
        Worker(ctx).run_forever(stop)
    except KeyboardInterrupt:
        stop.set()


def _context(data_dir: Path | None) -> Context:
    return open_context(_settings(data_dir))


@token_app.command("create")
def token_create(
    data_dir: DataDir = None,
    label: Annotated[str, typer.Option(help="A note on what the token is for.")] = "",
    account: Annotated[list[str] | None, typer.Option(
        "--account", help="Limit the token to this account (repeat for several; "
        "default: every account).")] = None,
    expires: Annotated[str, typer.Option(
        help="Lifetime: 30d, 12h, 90m, or never.")] = "never",
) -> None:
    """Create a bearer token; its id goes to stderr, the secret is printed once, last."""
    from openvod.clock import iso, utcnow
    from openvod.errors import InvalidRequestError
    from openvod.services.tokens import issue_token, parse_lifetime

    try:
        lifetime = parse_lifetime(expires)
    except InvalidRequestError as exc:
        raise typer.BadParameter(exc.message, param_hint="--expires") from exc
    expires_at = utcnow() + lifetime if lifetime is not None else None
    ctx = _context(data_dir)
    try:
        with ctx.session() as session:
            issued = issue_token(session, label, accounts=account or None, expires_at=expires_at)
    except InvalidRequestError as exc:
        raise typer.BadParameter(exc.message, param_hint="--account") from exc
    scope = ", ".join(sorted({a.lower() for a in account})) if account else "all accounts"
    until = iso(expires_at) if expires_at else "never"
    err_console.print(f"token {issued.public_id} ({scope}; expires {until})")
    print(issued.secret)


@token_app.command("list")
def token_list(data_dir: DataDir = None) -> None:
    """List tokens: id, label, scope, created, expires, last used, revoked (never secrets)."""
    from openvod.services.tokens import list_tokens

    ctx = _context(data_dir)
    with ctx.session() as session:
        infos = list_tokens(session)
    rows = [[t.public_id, t.label, ", ".join(t.accounts) if t.accounts else "all accounts",
             _when(t.created_at), _when(t.expires_at) or "never", _when(t.last_used_at),
             _when(t.revoked_at)] for t in infos]
    _table("tokens", ["id", "label", "scope", "created", "expires", "last used", "revoked"],
           rows)


def _when(value: datetime | None) -> str | None:
    """A UTC time to the second, short enough for a table column."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (openvod token list).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token: it answers 401 from now on."""
    from openvod.clock import iso
    from openvod.errors import NotFoundError
    from openvod.services.tokens import revoke

    ctx = _context(data_dir)
    try:
        with ctx.session() as session:
            info = revoke(session, token_id)
    except NotFoundError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"token {info.public_id} revoked at {iso(info.revoked_at)}")


@account_app.command("create")
def account_create(
    name: str,
    data_dir: DataDir = None,
    subscription: Subscription = api.DEFAULT_SUBSCRIPTION,
    resource_group: Group = api.DEFAULT_RESOURCE_GROUP,
    location: Annotated[str, typer.Option()] = "local",
) -> None:
    """Create a media services account (with its default streaming endpoint)."""
    from openvod.resources.accounts import MediaService
    from openvod.services import accounts

    ctx = _context(data_dir)
    with ctx.session() as session:
        row, created = accounts.create_or_update(
            session, subscription, resource_group, name, MediaService(location=location),
            storage_account_name=ctx.settings.storage_account_name,
        )
    console.print(f"account {row.name} {'created' if created else 'exists'}: "
                  f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
                  f"/providers/Microsoft.Media/mediaservices/{row.name}")


def _client(server: str, token: str | None, account: str, subscription: str,
            group: str) -> api.OpenvodClient:
    if not token:
        raise typer.BadParameter("a token is needed: --token or OPENVOD_TOKEN "
                                 "(openvod token create)")
    return api.OpenvodClient(server, token, subscription, group, account, verify=False)


class _Bars:
    """Rich progress bars for upload and encode stages."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: float, total: float) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _print_published(result: Any) -> None:
    if result.job_error:
        console.print(f"[red]job {result.job_state}: {result.job_error}[/red]")
        raise typer.Exit(1)
    console.print(f"asset [bold]{result.asset}[/bold] → output [bold]{result.output_asset}"
                  "[/bold]")
    for protocol, urls in result.streaming_urls.items():
        for url in urls:
            console.print(f"  {protocol:16} {url}", soft_wrap=True)
    for url in result.download_urls:
        console.print(f"  {'Download':16} {url}", soft_wrap=True)


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    asset: Annotated[str | None, typer.Option(help="Asset name (default from file).")] = None,
    preset: Annotated[str, typer.Option(help="Built-in preset.")] = "AdaptiveStreaming",
    publish: Annotated[str | None, typer.Option(
        help="Streaming policy to publish with, e.g. Predefined_DownloadAndClearStreaming"
    )] = None,
    index: Annotated[bool, typer.Option(
        "--index", help="Also index the speech: captions in the streams, searchable words."
    )] = False,
    language: Annotated[str, typer.Option(help="Audio language for --index.")] = "en-US",
    server: Server = "http://127.0.0.1:8080",
    token: Token = None,
    account: Account = api.DEFAULT_ACCOUNT,
    subscription: Subscription = api.DEFAULT_SUBSCRIPTION,
    resource_group: Group = api.DEFAULT_RESOURCE_GROUP,
) -> None:
    """Upload a file, encode it with a preset (and index it), optionally publish it and print
    the URLs."""
    from openvod.client.indexing import upload_encode_index_publish
    from openvod.client.workflow import upload_encode_publish

    client = _client(server, token, account, subscription, resource_group)
    with Progress(TextColumn("{task.description:>8}"), BarColumn(),
                  TextColumn("{task.percentage:>5.1f}%"), TimeRemainingColumn(),
                  console=console) as progress:
        if index:
            result = upload_encode_index_publish(client, file, asset=asset, preset=preset,
                                                 language=language, policy=publish,
                                                 progress=_Bars(progress))
        else:
            result = upload_encode_publish(client, file, asset=asset, preset=preset,
                                           policy=publish, progress=_Bars(progress))
    _print_published(result)
    if index and not result.job_error:
        console.print(f"  {'Captions':16} track 'captions' (transcript.vtt) on "
                      f"{result.output_asset}; index in {result.asset}-index")


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(v if v is not None else "") for v in row])
    console.print(table)


@app.command()
def assets(server: Server = "http://127.0.0.1:8080", token: Token = None,
           account: Account = api.DEFAULT_ACCOUNT,
           subscription: Subscription = api.DEFAULT_SUBSCRIPTION,
           resource_group: Group = api.DEFAULT_RESOURCE_GROUP) -> None:
    """List assets."""
    client = _client(server, token, account, subscription, resource_group)
    rows = [[a["name"], a["properties"]["assetId"], a["properties"]["created"],
             a["properties"].get("description")] for a in client.list("/assets")]
    _table("assets", ["name", "assetId", "created", "description"], rows)


@app.command()
def jobs(server: Server = "http://127.0.0.1:8080", token: Token = None,
         account: Account = api.DEFAULT_ACCOUNT,
         subscription: Subscription = api.DEFAULT_SUBSCRIPTION,
         resource_group: Group = api.DEFAULT_RESOURCE_GROUP) -> None:
    """List jobs of every transform."""
    client = _client(server, token, account, subscription, resource_group)
    rows = []
    for transform in client.list("/transforms"):
        for job in client.list(f"/transforms/{transform['name']}/jobs"):
            props = job["properties"]
            progress = [o.get("progress", 0) for o in props["outputs"]]
            rows.append([transform["name"], job["name"], props["state"], progress,
                         props["created"]])
    _table("jobs", ["transform", "job", "state", "progress", "created"], rows)


@app.command()
def locators(server: Server = "http://127.0.0.1:8080", token: Token = None,
             account: Account = api.DEFAULT_ACCOUNT,
             subscription: Subscription = api.DEFAULT_SUBSCRIPTION,
             resource_group: Group = api.DEFAULT_RESOURCE_GROUP) -> None:
    """List streaming locators."""
    client = _client(server, token, account, subscription, resource_group)
    rows = [[loc["name"], loc["properties"]["assetName"],
             loc["properties"]["streamingPolicyName"], loc["properties"]["streamingLocatorId"]]
            for loc in client.list("/streamingLocators")]
    _table("streaming locators", ["name", "asset", "policy", "locatorId"], rows)


@app.command()
def search(query: Annotated[str, typer.Argument(help='Words and "quoted phrases".')],
           server: Server = "http://127.0.0.1:8080", token: Token = None,
           account: Account = api.DEFAULT_ACCOUNT,
           subscription: Subscription = api.DEFAULT_SUBSCRIPTION,
           resource_group: Group = api.DEFAULT_RESOURCE_GROUP) -> None:
    """Find words in the transcripts and keywords of indexed assets; print where they are."""
    client = _client(server, token, account, subscription, resource_group)
    try:
        results = client.search(query)
    except api.ApiError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    if not results:
        console.print("no matches")
        return
    for result in results:
        console.print(f"[bold]{result['assetName']}[/bold]  {result['playbackUrl'] or ''}",
                      soft_wrap=True)
        for match in result["searchMatches"]:
            console.print(f"  {match['startTime']}  {match['type']:10}  {match['text']}",
                          soft_wrap=True)


def make_demo_clip(target: Path, seconds: int = 12) -> Path:
    """Generate a 720p test clip with a tone (ffmpeg lavfi), as the demo's mezzanine."""
    from openvod.encoding.tools import ffmpeg

    subprocess.run(
        [str(ffmpeg()), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "192k", "-shortest", str(target)],
        check=True,
    )
    return target


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    exit_after: Annotated[bool, typer.Option("--exit", help="Stop after printing.")] = False,
) -> None:
    """Start openvod, ingest a generated clip through the public API and print its URLs."""
    from openvod.client.workflow import upload_encode_publish
    from openvod.services.tokens import create_token
    from openvod.serving.serve import Server as OpenvodServer

    # Progress bars and URLs only: the server's own logs from warnings up,
    # unless OPENVOD_LOG_LEVEL asks for more.
    log_level = os.environ.get("OPENVOD_LOG_LEVEL", "warning")
    settings = _settings(data_dir, host=host, port=port, log_level=log_level)
    ctx = open_context(settings)
    with ctx.session() as session:
        token = create_token(session, "demo")
    server = OpenvodServer(ctx)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = settings.resolved_public_url
    _wait_healthy(base)
    client = api.OpenvodClient(base, token)
    client.ensure_account()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_demo_clip(Path(tmp) / "openvod-demo.mp4")
        with Progress(TextColumn("{task.description:>8}"), BarColumn(),
                      TextColumn("{task.percentage:>5.1f}%"), console=console) as progress:
            result = upload_encode_publish(
                client, clip, asset=None, preset="AdaptiveStreaming",
                policy="Predefined_DownloadAndClearStreaming", progress=_Bars(progress),
            )
    _print_published(result)
    console.print(f"\nAPI token (keep it): {token}")
    if exit_after:
        server.stop()
        thread.join(timeout=15)
        return
    console.print("Serving; Ctrl-C to stop.")
    try:
        while thread.is_alive():
            thread.join(1)
    except KeyboardInterrupt:
        server.stop()
        thread.join(timeout=15)


def _wait_healthy(base: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", verify=False, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"openvod did not become healthy at {base}")


def main() -> None:
    """Entry point of the ``openvod`` command."""
    app()
