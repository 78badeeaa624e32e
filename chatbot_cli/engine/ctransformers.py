"""The optional ctransformers backend, for old GGUF v1/v2 and legacy GGML llama files.

ctransformers (last release 2023) crashes the whole process on modern GGUF files, so the file
header is checked (`gguf.CTRANSFORMERS`) before the library ever sees a path: only GGUF v1/v2
llama models and legacy GGML files get through. The library is not thread-safe, so there is
exactly one slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from chatbot_cli.engine.base import Chunk, GenerationRequest
from chatbot_cli.engine.models import find_model, local_model
from chatbot_cli.engine.scheduler import GatedEngine, SlotGate
from chatbot_cli.engine.special_tokens import Neutralizer, read_vocabulary, special_texts
from chatbot_cli.errors import ConfigError, ContextLengthExceeded, EngineFailure

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

INSTALL_HINT = "pip install 'chatbot-cli[ctransformers]'"

# The turn markers render_prompt writes: typed into a message they would fake a turn even where
# the vocabulary has no special token for them, because the model was trained on the text.
TEMPLATE_MARKERS = ("<|im_start|>", "<|im_end|>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>")


def render_prompt(
    messages: list[dict[str, str]], template: str | None, neutralizer: Neutralizer | None = None
) -> str:
    """ctransformers has no chat templates: recognise the two common formats by their markers.
    Message content goes through `neutralizer` first, so it cannot open or close a turn."""
    if neutralizer is not None:
        messages = [{**m, "content": neutralizer.text(m.get("content") or "")} for m in messages]
    if template and "[INST]" in template:
        system = "".join(m["content"] + "\n" for m in messages if m.get("role") == "system")
        parts: list[str] = []
        for m in messages:
            if m.get("role") == "user":
                content = (f"<<SYS>>\n{system}<</SYS>>\n\n" if system and not parts else "") + m[
                    "content"
                ]
                parts.append(f"[INST] {content} [/INST]")
            elif m.get("role") == "assistant":
                parts.append(f" {m['content']} ")
        return "".join(parts)
    rendered = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return rendered + "<|im_start|>assistant\n"


class CTransformersEngine(GatedEngine):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._model, file = local_model(settings)
        self._model_type = "llama" if file.legacy else "gguf"
        template = file.meta.get("tokenizer.chat_template")
        self._template = template if isinstance(template, str) else None
        # Legacy GGML files carry no vocabulary we can read; the markers we write still apply.
        vocab = {} if file.legacy else read_vocabulary(file.path)
        self._neutralizer = Neutralizer(
            sorted(set(special_texts(vocab)) | set(TEMPLATE_MARKERS), key=len, reverse=True)
        )
        self._llm: Any = None
        self._gate = SlotGate(1, settings.queue_size)
        self._cancel: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    async def start(self) -> None:
        try:
            from ctransformers import LLM, Config
        except ImportError as exc:
            raise ConfigError(
                f"The ctransformers engine is not installed: run `{INSTALL_HINT}`"
            ) from exc
        config = Config(
            context_length=self._model.context_length or self._settings.n_ctx,
            threads=self._settings.threads,
        )
        try:
            # The LLM class takes a local file only; the Auto* helpers would try a model hub.
            self._llm = await asyncio.to_thread(
                LLM, str(self._model.path), self._model_type, config=config, lib="avx2"
            )
        except Exception as exc:
            raise ConfigError(f"Could not load model {self._model.path}: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._gate.cancel_waiters(EngineFailure("The server is shutting down"))
        if self._cancel is not None:
            self._cancel.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30.0)
        self._llm = None

    async def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        find_model(model, self.models)
        if self._closed or self._llm is None:
            raise EngineFailure("The engine is not running")
        prompt = render_prompt(request.messages, self._template, self._neutralizer)
        granted = await self._gate.acquire()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        self._cancel = cancel
        thread = threading.Thread(
            target=self._work,
            args=(prompt, request, cancel, loop, queue, granted),
            name="chatbot-ctransformers",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    break
        finally:
            cancel.set()  # the worker notices before its next token and frees the slot

    def _work(
        self,
        prompt: str,
        request: GenerationRequest,
        cancel: threading.Event,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Any],
        granted: float,
    ) -> None:
        def put(chunk: Chunk) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                cancel.set()

        last: Any = None
        try:
            for chunk in self._generate(prompt, request, cancel):
                if chunk.finish_reason is not None:
                    last = chunk
                    break
                put(chunk)
        except ContextLengthExceeded as exc:
            last = exc
        except Exception as exc:
            last = EngineFailure(f"Generation failed: {exc}")
        if last is None:
            last = EngineFailure("Generation was interrupted: the server is shutting down")
        # The final chunk (or error) goes out only after the slot is free, so a caller that
        # has seen the end of a stream can always start the next one straight away.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._finish, granted, queue, last)

    def _finish(self, granted: float, queue: asyncio.Queue[Any], last: Any) -> None:
        self._gate.release(granted)
        queue.put_nowait(last)

    def _generate(self, prompt: str, request: GenerationRequest, cancel: threading.Event) -> Any:
        llm = self._llm
        tokens = llm.tokenize(prompt)
        limit = llm.context_length
        if len(tokens) >= limit:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {limit} tokens, but the messages "
                f"resulted in {len(tokens)} tokens. Shorten the conversation.",
                param="messages",
            )
        budget = limit - len(tokens)
        max_new = min(request.max_tokens, budget) if request.max_tokens else budget
        greedy = request.temperature is not None and request.temperature <= 0
        sampling: dict[str, Any] = {
            "temperature": 1.0 if greedy else request.temperature,
            "top_k": 1 if greedy else None,
            "top_p": request.top_p,
            "seed": request.seed,
        }
        stops = [s for s in request.stop if s]
        text, pending, count, finish = "", b"", 0, "length"
        for token in llm.generate(tokens, reset=True, **sampling):
            if cancel.is_set():
                return
            count += 1
            pending += llm.detokenize([token], decode=False)
            try:
                text += pending.decode("utf-8")
                pending = b""
            except UnicodeDecodeError:
                if len(pending) < 4:
                    continue  # an incomplete multi-byte character: wait for the rest
                text += pending.decode("utf-8", errors="replace")
                pending = b""
            hit = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
            if hit >= 0:
                text, finish = text[:hit], "stop"
                break
            # Hold back a tail that could still grow into a stop string.
            hold = max((_overlap(text, s) for s in stops), default=0)
            if len(text) > hold:
                yield Chunk(text[: len(text) - hold])
                text = text[len(text) - hold :]
            if count >= max_new:
                break
        else:
            finish = "stop"  # end-of-sequence token
        if text:
            yield Chunk(text)
        yield Chunk("", finish_reason=finish, prompt_tokens=len(tokens), completion_tokens=count)


def _overlap(text: str, stop: str) -> int:
    for n in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0
