"""``resilience load``: chat load alone against the running target; timeline and integrity under results/.

Against the local stack by default (its endpoints and issuer secret come from the state dir), or any
chat service with ``--chat-url URL --issuer-secret-file F`` (plus ``--postgres-url`` for the integrity
check). With the ``steady`` profile the users are started first (``users / spawn_rate`` seconds, the ramp) and
then held for ``--duration``: the ramp is a warm-up, like a game day's. The run is judged like a game day's
steady state: the SLO (the ``slo:`` section of the ``--params`` file, then ``--slo KEY=VALUE`` flags, over the
chat service's defaults ``resilience.slo.Slo()``) over the held window (the whole run for the other profiles,
which shape the users over ``--duration`` themselves), WebSocket connect success over the whole run (the
ramp's connects count), the generator's health over the held window
(``resilience.analysis.recovery.judge_window``, each window as one bucket). Exit code 0 when the SLO held and every
acknowledged message is in the database once, 1 when not (the broken objectives are printed with their
measured values), 2 when the target or the load failed, 3 for bad input.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from resilience.errors import EXIT_FAILED, ConfigError, LoadError, TargetError
from resilience.load.params import PROFILES, LoadParams, load_params
from resilience.rundoc import write_run
from resilience.safety.redact import install_logging_filter, register_secrets, scrub_folder
from resilience.slo import Slo

if TYPE_CHECKING:
    from resilience.analysis.recovery import SloVerdict

__all__ = ["command", "held_window", "slo_reasons"]

log = logging.getLogger(__name__)

DRAIN_S = 3.0
"""After the load stops, wait this long before reading the database (in-flight commits land)."""


@dataclass(frozen=True)
class _Where:
    """Where the load goes: chat URL, issuer secret, database URL (None: no integrity check)."""

    chat_url: str
    secret: str = field(repr=False)
    postgres_url: str | None = field(repr=False)
    target: str


def _read_secret(path: Path) -> str:
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"--issuer-secret-file {path}: {exc.strerror or exc}") from None
    if not secret:
        raise ConfigError(f"--issuer-secret-file {path}: file is empty")
    register_secrets([secret])
    return secret


def _resolve(
    chat_url: str | None, secret_file: Path | None, postgres_url: str | None, state_dir: Path | None
) -> _Where:
    if chat_url is not None:
        if secret_file is None:
            raise ConfigError("--chat-url needs --issuer-secret-file (the secret that guards POST /auth/token)")
        return _Where(chat_url, _read_secret(secret_file), postgres_url, "external")
    from resilience.targets import get_target  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    try:
        target = get_target("local", **({"state_dir": state_dir} if state_dir else {}))
    except ImportError:
        raise TargetError("the local target is not available in this build: use --chat-url") from None
    if not target.is_up():
        raise TargetError("the local target is not running: start it with `resilience up` (or use --chat-url)")
    endpoints = target.endpoints()
    issuer = getattr(target, "issuer_secret", None)
    secret = _read_secret(secret_file) if secret_file else (issuer() if issuer else None)
    if not secret:
        raise TargetError("the local target gives no issuer secret: pass --issuer-secret-file")
    return _Where(endpoints.chat, secret, postgres_url or endpoints.postgres, target.name)


def _slo(params_file: Path | None, slo_file: dict[str, Any] | None, flags: tuple[str, ...]) -> Slo:
    """The SLO the load is judged against: the defaults, the params file's ``slo:``, then ``--slo`` flags."""
    from pydantic import ValidationError  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    override: dict[str, Any] = dict(slo_file or {})
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep:
            raise ConfigError(f"--slo {flag}: expected KEY=VALUE (e.g. p95_ms=250)")
        override[key.strip()] = None if value.strip().lower() in ("", "none", "null") else value.strip()
    try:
        return Slo().merged(override)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = f"{params_file}: slo" if slo_file and not flags else "slo"
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{where}: {field}: {err['msg']} (got {err.get('input')!r})") from None


def _params(params_file: Path | None, overrides: dict[str, Any]) -> tuple[LoadParams, dict[str, Any] | None]:
    data: dict[str, Any] = {}
    slo: dict[str, Any] | None = None
    source = "command line"
    if params_file is not None:
        import yaml  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

        source = str(params_file)
        try:
            loaded = yaml.safe_load(params_file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{params_file}: cannot read load parameters: {str(exc).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{params_file}: expected a mapping of load parameters")
        if isinstance(loaded.get("load"), dict):
            data.update(loaded["load"])
            slo = loaded.get("slo")
            if slo is not None and not isinstance(slo, dict):
                raise ConfigError(f"{params_file}: slo: expected a mapping of objectives (got {slo!r})")
        else:
            data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return load_params(data, source=source), slo


def _run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-load-{os.getpid()}"


@click.command(name="load")
@click.option("--profile", type=click.Choice(PROFILES), help="Load shape (default steady).")
@click.option("--users", type=int, help="Peak concurrent users (default 10).")
@click.option(
    "--duration",
    "duration_s",
    type=float,
    help="Seconds of load (default 60); with the steady profile, seconds every user is held, after the ramp.",
)
@click.option(
    "--spawn-rate", type=float, help="Users started per second (default: a ramp of 75 % of the duration at most)."
)
@click.option("--rooms", type=int, help="Number of rooms (default users / room size).")
@click.option("--room-size", type=int, help="Users per room.")
@click.option("--think-time", "think_time_s", type=float, help="Mean seconds between a user's actions.")
@click.option("--message-bytes", type=int, help="Message body size.")
@click.option("--rest-share", type=float, help="Fraction of actions over REST (0-1).")
@click.option(
    "--params",
    "params_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML/JSON file of load parameters (a `load:` section or the fields); flags override it.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Locust worker processes (0: one standalone process; default: one per 2,000 users, none up to 2,000).",
)
@click.option("--chat-url", help="Chat service base URL (default: the running local target's).")
@click.option(
    "--issuer-secret-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding the chat issuer secret (needed with --chat-url).",
)
@click.option("--postgres-url", help="libpq URL of the chat database for the integrity check.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), help="Local target state dir.")
@click.option(
    "--results",
    "results_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="results",
    show_default=True,
    help="Parent folder of the run folder.",
)
@click.option(
    "--resolution", type=click.FloatRange(0.001, 60), default=0.1, show_default=True, help="Timeline bucket in seconds."
)
@click.option(
    "--slo",
    "slo_flags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one objective (p95_ms, p99_ms, error_rate, ws_connect_success, throughput_min; none: not judged).",
)
@click.option("--web-port", type=int, help="Serve Locust's web UI on 127.0.0.1:PORT during the run.")
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Also write charts, report.html, summary.md and junit.xml into the run folder.",
)
def command(
    *,
    params_file: Path | None,
    workers: int | None,
    chat_url: str | None,
    issuer_secret_file: Path | None,
    postgres_url: str | None,
    state_dir: Path | None,
    results_dir: Path,
    resolution: float,
    web_port: int | None,
    report: bool,
    slo_flags: tuple[str, ...],
    **overrides: Any,
) -> int:
    """Drive chat load alone against the running target, judge it against the SLO; write timeline.csv,
    integrity and run.json."""
    params, slo_file = _params(params_file, overrides)
    slo = _slo(params_file, slo_file, slo_flags)
    if params.duration_s is None:
        raise ConfigError("load: duration_s must be set for `resilience load` (it stops by itself)")
    where = _resolve(chat_url, issuer_secret_file, postgres_url, state_dir)
    from resilience.load.launcher import default_workers, ephemeral_ports, port_warning  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    if workers is None:
        workers = default_workers(params.users)
    if warning := port_warning(params.users, ephemeral_ports()):
        click.echo(f"warning: {warning}", err=True)
    run_id = _run_id()
    run_dir = results_dir / run_id
    register_secrets([where.secret])
    install_logging_filter()
    try:
        run = _drive(where, params, slo, run_dir, workers=workers, web_port=web_port, resolution=resolution)
        run["run_id"] = run_id
        run["reproduce"] = _reproduce(params, where, workers)
        write_run(run_dir, run)
        if report:
            _write_report(run_dir)
    finally:
        scrub_folder(run_dir)  # Locust's .out logs, run.json, the report: no secret leaves in results/
    _print(run, run_dir)
    return 0 if run["verdict"] == "passed" else EXIT_FAILED  # failed or inconclusive: not a pass


def _drive(
    where: _Where,
    params: LoadParams,
    slo: Slo,
    run_dir: Path,
    *,
    workers: int,
    web_port: int | None,
    resolution: float,
) -> dict[str, Any]:
    from resilience.analysis.generator import delivered_load, judge_generator, read_generator  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.analysis.recovery import judge_window  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.analysis.samples import read_samples  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.analysis.timeline import build_timeline  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.load import start_load  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    assert params.duration_s is not None
    ramp_s = params.users / params.spawn_rate if params.profile == "steady" else 0.0
    running = params.model_copy(update={"duration_s": round(ramp_s + params.duration_s, 3)})
    started = time.time()
    load = start_load(where.chat_url, where.secret, running, run_dir / "load", workers=workers, web_port=web_port)
    plan = f"a ramp of {ramp_s:.0f} s, then held for {params.duration_s:g} s" if ramp_s else f"{params.duration_s:g} s"
    click.echo(f"load: {params.users} users ({params.profile}) against {where.chat_url}: {plan} -> {run_dir}", err=True)
    try:
        assert running.duration_s is not None
        if load.wait(running.duration_s + 60) is None:
            raise LoadError(f"locust did not finish within {running.duration_s + 60:g} s (see {run_dir}/load)")
    finally:
        load.stop()
    ended = time.time()
    if load.returncode not in (0, None):
        raise LoadError(f"locust exited with code {load.returncode} (see {run_dir}/load/locust-master.out)")
    timeline = build_timeline(load.events_dir, resolution_s=resolution)
    timeline.write_csv(run_dir / "timeline.csv")
    # not steady, or the users were never all open (the shortfall fails it): judged whole
    held_at = held_window(timeline.rows, params.users, hold_s=params.duration_s, ended=ended) if ramp_s else None
    held = held_at is not None
    w0, w1 = held_at or (started, ended)
    span = max(w1 - w0, resolution)
    judged = judge_window(
        read_samples(load.events_dir, resolution_s=span, start=w0, end=w0 + span, exact=True), slo, resolution_s=span
    )
    whole = max(ended - started, resolution)
    connects = judge_window(
        read_samples(load.events_dir, resolution_s=whole, start=started, end=started + whole, exact=True),
        Slo(p95_ms=None, error_rate=None, throughput_min=None, ws_connect_success=slo.ws_connect_success),
        resolution_s=whole,
    )
    integrity = _integrity(where, load.ledger_dir)
    s = timeline.summary
    window = build_timeline(load.events_dir, resolution_s=resolution, start=w0, end=w1).summary if held else s
    delivered = delivered_load({**window, "ws_open_peak": s["ws_open_peak"]}, params.users)
    reasons = slo_reasons(judged, connects, held=held)
    if delivered.shortfall:
        reasons.insert(0, delivered.shortfall)
    if integrity is not None and not integrity["ok"]:
        reasons.append(
            f"integrity: {integrity['lost']} lost, {integrity['duplicated']} duplicated, "
            f"{integrity['out_of_order']} out of commit order, {integrity['delivery_out_of_order']} pushed out of"
            f" order, {integrity['delivery_gaps']} skipped"
        )
    samples = read_generator(load.generator_dir) if load.generator_dir else None
    generator = judge_generator(samples, w0, w1) if samples is not None else None
    ramp_generator = judge_generator(samples, started, w0) if samples is not None and held else None
    verdict = "failed" if reasons else "passed"
    if generator is not None and generator.saturated:
        verdict = "inconclusive"  # the figures describe the generator as much as the service
        reasons.insert(0, generator.reason)
    return {
        "kind": "load",
        "target": where.target,
        "started": started,
        "ended": ended,
        "verdict": verdict,
        "reasons": reasons,
        "slo": slo.to_json(),
        "experiments": [],
        "load": {
            "users": params.users,
            "users_peak": s["ws_open_peak"],
            "ws_connect_success": s["connect_success"],
            "p95_ms": window["p95_ms"],
            "ack_p95_ms": window["ack_p95_ms"],
            "messages_per_s": delivered.messages_per_s,
            "ramp_s": round(w0 - started, 1) if held else None,
            "held_s": round(w1 - w0, 1),
            "ramp_generator": ramp_generator.to_json() if ramp_generator else None,
            "requests": s["requests"],
            "messages_acked": s["messages_acked"],
            "workers": workers,
            "spawn_rate": params.spawn_rate,
            "generator": generator.to_json() if generator else None,
            "params": params.model_dump(),
            "summary": s,
        },
        "integrity": integrity,
        "environment": {
            "python": sys.version.split()[0],
            "target": where.target,
            "chat_url": where.chat_url,
            "load_params": params.model_dump(),
        },
    }


def slo_reasons(window: SloVerdict, whole: SloVerdict, *, held: bool) -> list[str]:
    """Why the SLO broke: over the judged ``window`` (the held one when ``held``), and the connect objective over
    the ``whole`` run (each reason once: without a ramp both are the same window)."""
    reasons = [f"SLO broken over the {'held window' if held else 'load'}: {r}" for r in window.reasons]
    return reasons + [f"SLO broken over the whole run: {r}" for r in whole.reasons if r not in window.reasons]


def held_window(
    rows: Sequence[Mapping[str, Any]], users: int, *, hold_s: float, ended: float
) -> tuple[float, float] | None:
    """The window a steady load is judged on: from the first timeline bucket with the users' WebSockets open
    (``REACHED_SHARE`` of them) for ``hold_s``, at most until ``ended``; None when they never were."""
    from resilience.analysis.generator import REACHED_SHARE  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    need = REACHED_SHARE * users
    full = next((float(r["t"]) for r in rows if (r.get("ws_open") or 0) >= need), None)
    return None if full is None else (full, max(full, min(full + hold_s, ended)))


def _integrity(where: _Where, ledger_dir: Path) -> dict[str, Any] | None:
    if where.postgres_url is None:
        log.warning("no --postgres-url: integrity not checked")
        return None
    from resilience.analysis.integrity import check_integrity  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    time.sleep(DRAIN_S)
    report: dict[str, Any] = check_integrity(ledger_dir, where.postgres_url).to_json()
    (ledger_dir.parent.parent / "integrity.json").write_text(json.dumps(report, indent=2))
    return report


def _write_report(run_dir: Path) -> None:
    """Charts and reports of the run; a failure there is a warning (the load's own results are written)."""
    from resilience.report import write_report  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    try:
        write_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the report is an extra: say why and keep the run's exit code
        click.echo(
            f"warning: report not written: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True
        )


def _reproduce(params: LoadParams, where: _Where, workers: int) -> str:
    argv = [
        "resilience",
        "load",
        "--profile",
        params.profile,
        "--users",
        str(params.users),
        "--duration",
        f"{params.duration_s:g}",
        "--spawn-rate",
        f"{params.spawn_rate:g}",
        "--room-size",
        str(params.room_size),
        "--think-time",
        f"{params.think_time_s:g}",
        "--message-bytes",
        str(params.message_bytes),
        "--rest-share",
        f"{params.rest_share:g}",
    ]
    if params.rooms is not None:
        argv += ["--rooms", str(params.rooms)]
    if workers:
        argv += ["--workers", str(workers)]
    if where.target == "external":
        argv += ["--chat-url", where.chat_url, "--issuer-secret-file", "<file>"]
    return shlex.join(argv)


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _print(run: dict[str, Any], run_dir: Path) -> None:
    s = run["load"]["summary"]
    click.echo(f"run {run['run_id']}: {run['verdict'].upper()} -> {run_dir}")
    for reason in run["reasons"]:
        click.echo(f"  {reason}")
    if run["load"].get("ramp_s") is not None:
        click.echo(
            f"  held {_fmt(run['load']['held_s'])} s after a ramp of {_fmt(run['load']['ramp_s'])} s: p95 "
            f"{_fmt(run['load']['p95_ms'])} ms (send->ack {_fmt(run['load']['ack_p95_ms'])} ms); the whole run:"
        )
    click.echo(
        f"  requests {s['requests']} ({_fmt(s['throughput'])}/s), errors {_fmt(s['error_rate'], '.2%')}, "
        f"p50/p95/p99 {_fmt(s['p50_ms'])}/{_fmt(s['p95_ms'])}/{_fmt(s['p99_ms'])} ms"
    )
    click.echo(
        f"  websockets: peak {s['ws_open_peak']} open, connect success {_fmt(s['connect_success'], '.2%')}, "
        f"{s['reconnects']} reconnects; deliveries {s['delivery_count']} (p95 {_fmt(s['delivery_p95_ms'])} ms)"
    )
    load = run["load"]
    click.echo(
        f"  load delivered: {load['users_peak']} of {load['users']} users open at once "
        f"({load['workers']} workers, spawn {load['spawn_rate']:g}/s), {_fmt(load['messages_per_s'])} acked messages/s,"
        f" send->ack p95 {_fmt(load['ack_p95_ms'])} ms"
    )
    g = load.get("generator")
    if g:
        click.echo(
            f"  generator: {g['processes']} processes, CPU max {_fmt(g['cpu_max'], '.0f')} % (busy >= 90 % in "
            f"{_fmt((g['busy_share'] or 0) * 100, '.0f')} % of the judged window at most), "
            f"open files max {g['fds_max']}, "
            f"event-loop lag max {_fmt(g['lag_max_ms'], '.0f')} ms{' - SATURATED' if g['saturated'] else ''}"
        )
    r = load.get("ramp_generator")
    if r:
        click.echo(
            f"  generator during the ramp (not judged): CPU max {_fmt(r['cpu_max'], '.0f')} %, event-loop lag max "
            f"{_fmt(r['lag_max_ms'], '.0f')} ms{' - saturated' if r['saturated'] else ''}"
        )
    i = run["integrity"]
    if i is None:
        click.echo("  integrity: not checked (no database URL)")
    else:
        click.echo(
            f"  integrity: {i['acked']} acked, {i['lost']} lost, {i['duplicated']} duplicated, "
            f"{i['out_of_order']} out of commit order, {i['delivery_out_of_order']} pushed out of order, "
            f"{i['delivery_gaps']} skipped, {i['indeterminate']} indeterminate, "
            f"delivery {_fmt(i['delivery_ratio'], '.2%')}"
        )
