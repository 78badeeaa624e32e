"""`python -m bench [--quick] [--peer llama-cpp-python] [--only 1,2,...] [--json FILE]`

Figure 6 (the browser page, in Debian's chromium) runs only when asked for: `--only 6`.

Runs every figure and prints one table: figure, value, baseline (measured in the same run),
ratio, target and pass/FAIL. Timing is never asserted: the exit status is 0 unless a benchmark
could not run (or --strict is given and a target is missed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `tests.live` (the server runner) and `tests.tinymodel` live in the repo, not the package.
    sys.path.insert(0, str(ROOT))

from bench.common import Context, Row, isolated_env, render_table  # noqa: E402

PEERS = ("llama-cpp-python",)
PEER_INSTALL = (
    'python3.11 -m venv .peer && .peer/bin/pip install "llama-cpp-python[server]==0.3.36", '
    "then add --peer-python .peer/bin/python (no wheel: it builds llama.cpp from source, "
    "about 6-12 minutes on 2 cores)"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the chatbot server and CLI against floors and peers measured in "
        "the same run; prints one table (figure, value, baseline, ratio, target, result).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="A few iterations each, on the tiny test model."
    )
    parser.add_argument(
        "--peer", choices=PEERS, help="Also measure llama-cpp-python's server (install it first)."
    )
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=Path(sys.executable),
        help="Python that has llama-cpp-python installed (its own venv keeps its pinned "
        "dependencies out of ours; default: this interpreter).",
    )
    parser.add_argument(
        "--only",
        default="1,2,3,4,5,7,8,9,10,11",
        help="Comma-separated figures to run; 6 (the browser page, needs chromium) only if named.",
    )
    parser.add_argument("--json", type=Path, help="Also write the rows to this JSON file.")
    parser.add_argument("--model", type=Path, help="GGUF file to use instead of the default.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 if a target is missed.")
    return parser.parse_args(argv)


def make_context(args: argparse.Namespace, work: Path) -> Context:
    from chatbot_cli.config import load_settings
    from chatbot_cli.engine.models import embedded_model_path, model_infos

    if args.model:
        model = args.model.resolve()
    elif args.quick:
        from tests.tinymodel import write_tiny_model

        model = write_tiny_model(work / "tiny.gguf")
    else:
        model = embedded_model_path()
    # The server's own defaults decide slots and threads; the references copy them.
    settings = load_settings(model=str(model))
    slot_ctx = model_infos(settings)[0].context_length or settings.n_ctx
    return Context(
        quick=args.quick,
        model=model,
        work=work,
        parallel=settings.parallel,
        threads=settings.threads,
        n_ctx_total=slot_ctx * settings.parallel,
        peer=args.peer,
        peer_python=args.peer_python,
    )


def _model_figures(ctx: Context, figures: set[int]) -> tuple[list[Row], list[str]]:
    from bench import concurrency, llama_server, memory, streaming
    from bench.common import Process, start_chatbot

    rows: list[Row] = []
    extra: list[str] = []
    started: list[Process] = []
    ours = start_chatbot(ctx, "model-server")
    try:
        servers = {"chatbot": (ours.url, ours.api_key)}
        if 9 in figures:
            from bench import tool_calls

            rows += tool_calls.run(ctx, ours.url, ours.api_key)
        if not figures & {1, 2, 5}:
            return rows, extra
        ref = llama_server.start(ctx)
        started.append(ref)
        if 1 in figures:
            from bench import spin

            rows += streaming.run(ctx, ours.url, ours.api_key, ref.url)
            rows += spin.run(ctx)
        servers["llama.cpp server"] = (ref.url, "unused")
        peer_note = "needs --peer llama-cpp-python"
        if 2 in figures and ctx.peer == "llama-cpp-python":
            lcp = llama_server.start_llama_cpp_python(ctx, ctx.n_ctx_total // ctx.parallel)
            if lcp is None:
                peer_note = f"llama-cpp-python is not installed: {PEER_INSTALL}"
                ctx.log(peer_note)
            else:
                started.append(lcp)
                servers["llama-cpp-python"] = (lcp.url, "unused")
        if 2 in figures:
            runs = concurrency.measure(ctx, servers)
            rows += concurrency.rows(
                runs["chatbot"], runs["llama.cpp server"], runs.get("llama-cpp-python"), peer_note
            )
            extra += [
                "Concurrency detail (best round of each server and level):",
                "",
                concurrency.detail(runs),
            ]
        if 5 in figures:
            assert ours.proc is not None
            rss = memory.rss_mb(ours.proc.pid)
            rows.append(memory.row_from(ctx, rss, memory.rss_mb(ref.pid)))
    finally:
        ours.stop()
        for proc in started:
            proc.stop()
    return rows, extra


def run(args: argparse.Namespace, work: Path) -> tuple[list[Row], list[str]]:
    from bench import cli_latency, todo_api
    from bench.common import start_chatbot

    figures = {int(f) for f in args.only.split(",") if f.strip()}
    os.environ.update(isolated_env(work / "bench-home"))
    ctx = make_context(args, work)
    ctx.log(f"model {ctx.model}, {ctx.parallel} slots, {ctx.threads} threads")
    rows: list[Row] = []
    extra: list[str] = []

    if figures & {1, 2, 5, 9}:
        rows_, extra_ = _model_figures(ctx, figures)
        rows += rows_
        extra += extra_

    if 6 in figures:
        from bench import web_page

        page_server = start_chatbot(ctx, "web-page-server")
        try:
            rows += web_page.run(ctx, page_server.url, page_server.api_key)
        finally:
            page_server.stop()

    if figures & {3, 4}:
        todo = start_chatbot(ctx, "todo-server", model=False)
        try:
            env = todo.env
            if 3 in figures:
                ctx.log(f"seeding {cli_latency.SEED_TODOS} todos")
                cli_latency.seed_todos(todo.url, todo.headers, cli_latency.SEED_TODOS)
                rows += cli_latency.run(ctx, env)
            if 4 in figures:
                assert todo.proc is not None
                rows += todo_api.run(ctx, todo.url, todo.api_key, env, todo.proc.pid)
        finally:
            todo.stop()
    if 7 in figures:
        from bench import todo_scale

        rows += todo_scale.run(ctx)
    if 8 in figures:
        from bench import models

        rows += models.run(ctx)
    if 10 in figures:
        from bench import quota_cost

        rows += quota_cost.run(ctx)
    if 11 in figures:
        from bench import conversations

        rows += conversations.run(ctx)
    return rows, extra


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chatbot-bench-") as tmp:
        rows, extra = run(args, Path(tmp))
    mode = "quick (tiny test model)" if args.quick else "full (embedded SmolLM2)"
    print(f"chatbot benchmarks, {mode}, {os.cpu_count()} CPUs\n")
    print(render_table(rows))
    if extra:
        print("\n" + "\n".join(extra))
    if args.json:
        payload: dict[str, Any] = {"mode": mode, "rows": [r.as_dict() for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2))
    missed = [r for r in rows if r.ok is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
