"""The llama.cpp backend: xllamacpp runs llama.cpp's server in-process (continuous batching over
`settings.parallel` slots) and we call it directly, never over HTTP.

Each generation runs the blocking `handle_chat_completions` on its own worker thread (the GIL is
released while llama.cpp computes). Its callback hands every chunk to the event loop through a
`Handover` (which wakes the loop only when the stream's reader wants the chunks: engine/handover.py)
and returns the job's cancel flag, which llama.cpp checks after each token: setting the flag stops
the generation and frees the slot at once.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any

from chatbot_cli.engine.base import Chunk, GenerationRequest, ModelInfo
from chatbot_cli.engine.handover import Handover
from chatbot_cli.engine.models import find_model
from chatbot_cli.engine.openmp import import_xllamacpp
from chatbot_cli.engine.scheduler import GatedEngine, SlotGate
from chatbot_cli.engine.sockdir import SOCK_PREFIX, sweep_stale
from chatbot_cli.engine.sockdir import short_tmp as _short_tmp
from chatbot_cli.engine.special_tokens import Neutralizer
from chatbot_cli.errors import (
    ChatbotError,
    ConfigError,
    ContextLengthExceeded,
    EngineFailure,
    InvalidRequest,
)

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

log = logging.getLogger("chatbot.engine")

# How long close() waits for a worker to notice its cancel flag. llama.cpp only checks it between
# tokens, so a worker in the middle of a long prompt evaluation can take a few seconds.
JOIN_TIMEOUT = 30.0
FINISH_REASONS = frozenset({"stop", "length"})
CLOSED_WHILE_LOADING = "The engine was closed while its model loaded"


class _Job:
    __slots__ = ("cancelled", "thread")

    def __init__(self) -> None:
        self.cancelled = False
        self.thread: threading.Thread | None = None


class _Done:
    """Queue sentinel: the worker returned `result` (None, an error dict, or an exception)."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result


class LlamaCppEngine(GatedEngine):
    def __init__(self, settings: Settings, model: ModelInfo) -> None:
        self._settings = settings
        self._model = model
        self._server: Any = None
        self._sock_dir: Path | None = None
        self._gate = SlotGate(settings.parallel, settings.queue_size)
        self._neutralizer = Neutralizer(())  # the model's special strings, read in _load
        self._jobs: set[_Job] = set()
        self._jobs_lock = threading.Lock()
        self._closed = False
        ref = weakref.ref(self)

        def at_exit() -> None:
            engine = ref()
            if engine is not None:
                engine._shutdown()

        self._atexit = at_exit
        atexit.register(at_exit)

    @property
    def running(self) -> bool:
        """Its llama.cpp server (and so its OpenMP threads) exists or is about to: not yet
        closed, or closed but kept because a worker would not stop."""
        return not self._closed or self._server is not None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise EngineFailure("The engine has been closed")
        if self._server is None:
            await asyncio.to_thread(self._load)
        if self._settings.warmup:
            # The first request after loading pays for graph allocation and kernel selection;
            # pay it here instead of in the first user's time to first token.
            warm = GenerationRequest(
                messages=[{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0
            )
            async for _ in self.stream(self._model.id, warm):
                pass

    def _load(self) -> None:
        xlc = import_xllamacpp()

        s = self._settings
        try:
            self._neutralizer = Neutralizer.for_model(Path(str(self._model.path)))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Could not read model {self._model.path}: {exc}") from exc
        params = xlc.CommonParams()
        params.model.path = str(self._model.path)
        params.n_parallel = s.parallel
        # Each slot gets its own fixed share of the KV cache: with a unified cache one long
        # conversation can exhaust it and make every other running request fail mid-stream.
        params.kv_unified = False
        params.n_ctx = (self._model.context_length or s.n_ctx) * s.parallel
        # Decode uses every thread, a single stream too: leaving the event loop a core made one
        # stream slower and batched decode no faster.
        params.cpuparams.n_threads = s.threads
        params.cpuparams_batch.n_threads = s.threads
        # llama.cpp's server logs straight to the process's stderr in its own format from its
        # own thread, and xllamacpp offers no callback to route it through `logging`. Every
        # error it reports also reaches us as a result (and so a response and our log line),
        # so its own lines are off (-1) unless debugging, when they are the detail wanted.
        debug = s.log_level.lower() == "debug"
        params.verbosity = 3 if debug else -1
        # llama.cpp's host-side prompt cache is large by default. Each slot already keeps its
        # last prompt in the KV cache and a follow-up turn is routed back to it, so the extra
        # copy only pays off with more live conversations than slots: off unless configured.
        params.cache_ram_mib = s.prompt_cache_mib
        # 8-bit keys shrink the KV cache at no speed cost (8-bit values would too, but change
        # SmolLM2's greedy answers). They need heads a multiple of 32 wide: models with narrower
        # heads fall back to f16 below.
        params.cache_type_k = xlc.ggml_type.GGML_TYPE_Q8_0
        params.flash_attn_type = xlc.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
        # llama.cpp always opens its own HTTP listener. Keep it off the network: a unix socket in
        # a private directory, protected by a key nobody knows, with the slots endpoint off.
        # The directory is this thread's until it is published with the server below: a close()
        # meanwhile must not remove it while llama.cpp binds its socket there, and leave it.
        base = _short_tmp()
        sweep_stale(base)
        sock_dir = Path(tempfile.mkdtemp(prefix=f"{SOCK_PREFIX}{os.getpid()}-", dir=base))
        params.hostnames = [str(sock_dir / "engine.sock")]
        params.api_keys = [token_urlsafe(32)]
        params.endpoint_slots = False
        # The metrics task is how _load knows llama.cpp's task loop runs (below); the endpoint
        # itself is unreachable, on the private socket behind the unknown key.
        params.endpoint_metrics = True
        params.n_threads_http = 1
        try:
            try:
                server = xlc.Server(params)
            except RuntimeError:
                # The failed attempt leaves its socket file behind, which would fail the next.
                (sock_dir / "engine.sock").unlink(missing_ok=True)
                params.cache_type_k = xlc.ggml_type.GGML_TYPE_F16
                server = xlc.Server(params)
        except Exception as exc:
            shutil.rmtree(sock_dir, ignore_errors=True)
            if self._closed:
                raise EngineFailure(CLOSED_WHILE_LOADING) from exc
            more = "" if debug else " (--log-level debug shows llama.cpp's own messages)"
            raise ConfigError(f"Could not load model {self._model.path}: {exc}{more}") from exc
        # `Server()` returns just before its thread enters llama.cpp's task loop, and the loop
        # sets its running flag on entry: a stop from dropping the server before that is lost,
        # and the drop joins the thread forever while holding the GIL, freezing the process
        # beyond any Python timeout. One task answered means the loop is in; a stop then ends it.
        # Until then close() must not see the server.
        server.handle_metrics()
        with self._jobs_lock:
            if not self._closed:
                self._server, server = server, None
                self._sock_dir = sock_dir
        if server is not None:  # closed while loading: this one goes now
            del server
            shutil.rmtree(sock_dir, ignore_errors=True)
            raise EngineFailure(CLOSED_WHILE_LOADING)

    def _shutdown(self) -> None:
        """Stop every generation, wait for the workers, then drop the server. Safe to repeat;
        also runs at interpreter exit, where a worker still inside llama.cpp would abort the
        process."""
        with self._jobs_lock:  # _load publishes its server under this lock unless closed
            self._closed = True
            jobs = list(self._jobs)
        for job in jobs:
            job.cancelled = True
        alive = False
        for job in jobs:
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(JOIN_TIMEOUT)
                alive = alive or job.thread.is_alive()
        if alive:
            # Dropping the server under a running worker would crash; leak it instead.
            log.warning("engine workers did not stop within %.0f s", JOIN_TIMEOUT)
        else:
            self._server = None
        self._remove_sock_dir()
        atexit.unregister(self._atexit)

    def _remove_sock_dir(self) -> None:
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None

    # --- generation ----------------------------------------------------------------------

    async def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        find_model(model, self.models)
        if self._closed or self._server is None:
            raise EngineFailure("The engine is not running")
        # Special-token strings in messages must stay text (see engine/special_tokens.py).
        body = self._neutralizer.body(request.openai_body())
        granted = await self._gate.acquire()
        loop = asyncio.get_running_loop()
        queue = Handover(loop, request.pace)
        job = _Job()
        job.thread = threading.Thread(
            target=self._work, args=(job, body, loop, queue, granted), name="chatbot-gen"
        )
        job.thread.daemon = True  # never blocks exit; close() and atexit join it properly
        with self._jobs_lock:
            self._jobs.add(job)
        try:
            job.thread.start()
        except BaseException:
            self._finish(job, granted, queue, None)
            queue.close()
            raise
        try:
            async for chunk in _read_chunks(queue, lambda: self._closed):
                yield chunk
        finally:
            # Reached on normal end, aclose(), task cancellation and errors alike.
            job.cancelled = True
            queue.close()

    def _work(
        self,
        job: _Job,
        body: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        queue: Handover,
        granted: float,
    ) -> None:
        put = queue.put
        call = loop.call_soon_threadsafe

        def on_chunk(chunk: dict[str, Any]) -> bool:
            if job.cancelled:
                return True
            try:
                put(chunk)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                job.cancelled = True
            return job.cancelled

        result: Any = None
        server = self._server
        try:
            if server is None:
                raise EngineFailure("The engine is not running")
            result = server.handle_chat_completions(body, on_chunk)
        except BaseException as exc:  # handed to the consumer, never lost on this thread
            result = exc
        finally:
            # An exception's traceback keeps this frame in a reference cycle: the server must
            # not live on in it after close(), until some garbage collection on any thread.
            server = None
        try:
            call(self._finish, job, granted, queue, result)
        except RuntimeError:
            with self._jobs_lock:
                self._jobs.discard(job)

    def _finish(self, job: _Job, granted: float, queue: Handover, result: Any) -> None:
        with self._jobs_lock:
            self._jobs.discard(job)
        self._gate.release(granted)
        queue.put_now(_Done(result))


async def _read_chunks(queue: Handover, closed: Any) -> AsyncIterator[Chunk]:
    """Turn llama.cpp's OpenAI-style chunk dicts into Chunks. Errors reported before any text
    raise the matching 4xx error; after text has been sent they are EngineFailure."""
    started = False
    finish: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    error: BaseException | None = None
    while True:
        item = await queue.get()
        if type(item) is _Done:
            result = item.result
            if isinstance(result, BaseException):
                raise _map_exception(result, started)
            if isinstance(result, dict) and "error" in result:
                raise _map_error(result["error"], started)
            if error is not None:
                raise error
            break
        if "error" in item:
            # The worker returns right after an error: raise once it has, so the slot is
            # already free when the caller sees the exception.
            error = error or _map_error(item["error"], started)
            continue
        choices = item.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            text = delta.get("content") if delta else None
            if text:
                started = True
                yield Chunk(text)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
                timings = item.get("timings")
        if "usage" in item:
            usage = item["usage"]
    if finish is None:
        if closed():
            raise EngineFailure("Generation was interrupted: the server is shutting down")
        raise EngineFailure("Generation ended unexpectedly")
    prompt_tokens, completion_tokens = _usage(usage, timings)
    yield Chunk(
        "",
        finish_reason=finish if finish in FINISH_REASONS else "stop",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def _usage(
    usage: dict[str, Any] | None, timings: dict[str, Any] | None
) -> tuple[int | None, int | None]:
    if usage:
        return usage.get("prompt_tokens"), usage.get("completion_tokens")
    if timings:
        return (
            int(timings.get("cache_n", 0)) + int(timings.get("prompt_n", 0)),
            timings.get("predicted_n"),
        )
    return None, None


def _map_error(err: Any, started: bool) -> ChatbotError:
    if not isinstance(err, dict):
        return EngineFailure(f"Engine error: {err}")
    message = str(err.get("message") or "engine error")
    kind = err.get("type")
    if started:
        return EngineFailure(f"Generation failed: {message}")
    if kind == "exceed_context_size_error":
        n_ctx, n_prompt = err.get("n_ctx"), err.get("n_prompt_tokens")
        if n_ctx and n_prompt:
            message = (
                f"This model's maximum context length is {n_ctx} tokens, but the messages "
                f"resulted in {n_prompt} tokens. Shorten the conversation."
            )
        return ContextLengthExceeded(message, param="messages")
    if kind == "invalid_request_error" or err.get("code") == 400:
        return InvalidRequest(message)
    return EngineFailure(f"Generation failed: {message}")


def _map_exception(exc: BaseException, started: bool) -> BaseException:
    if isinstance(exc, ChatbotError):
        return exc
    if isinstance(exc, ValueError) and not started:
        # llama.cpp raises ValueError for request shapes it rejects (e.g. non-string content).
        return InvalidRequest(f"Invalid request: {exc}")
    if isinstance(exc, Exception):
        return EngineFailure(f"Generation failed: {exc}")
    return exc  # KeyboardInterrupt / SystemExit propagate as they are
