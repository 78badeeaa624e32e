"""A tiny llama-architecture GGUF with random weights, for exercising the real engine path.

The file is about 0.5 MB and loads in a few milliseconds. The text it produces is gibberish but
deterministic for a given seed. The weights are shaped so that `</s>`, `<unk>`, `<s>` and the
non-printable byte tokens are (almost) never sampled: generations run to `max_tokens` unless a
stop string matches, and the output is always printable ASCII (valid UTF-8).
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

WORDS = [
    "hello", "world", "the", "a", "is", "of", "and", "to", "in", "it", "Paris", "France",
    "capital", "todo", "chat", "bot", "yes", "no", "ok", "done", "test", "model", "stop", "end",
]  # fmt: skip

# SentencePiece token types.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6

# ChatML's turn markers as control tokens (what SmolLM2 has), for `chat_tokens=True`; plus a
# user-defined token the template uses and one it does not.
CHAT_TOKENS = [("<|im_start|>", CONTROL), ("<|im_end|>", CONTROL), ("<|endoftext|>", CONTROL)]
CHAT_TOKENS += [("<tool>", USER_DEFINED), ("<note>", USER_DEFINED)]
TOOL_TEMPLATE = "{% if tools %}<tool>{% endif %}"

EMBED = 64
LAYERS = 2
HEADS = 4
FFN = 128


def _vocab(chat_tokens: bool = False) -> tuple[list[str], list[float], list[int], list[bool]]:
    """Tokens, scores, types, and whether each token may be generated."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [UNKNOWN, CONTROL, CONTROL]
    allowed = [False, False, False]
    if chat_tokens:
        tokens += [text for text, _ in CHAT_TOKENS]
        types += [kind for _, kind in CHAT_TOKENS]
        allowed += [False] * len(CHAT_TOKENS)
    printable = set(range(0x20, 0x7F))
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(BYTE)
        allowed.append(b in printable or b == 0x0A)
    seen = set(tokens)
    pieces = list(string.ascii_letters + string.digits + ".,!?'-:")
    pieces += ["▁"] + [f"▁{w}" for w in WORDS] + WORDS
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(NORMAL)
            allowed.append(True)
    # Longer pieces score higher so the SPM tokenizer prefers whole words.
    scores = [0.0 if t != NORMAL else float(len(tok)) for tok, t in zip(tokens, types, strict=True)]
    return tokens, scores, types, allowed


def write_tiny_model(
    path: Path,
    *,
    version: int = 3,
    context_length: int = 2048,
    seed: int = 1234,
    chat_tokens: bool = False,
) -> Path:
    """Write the model to `path` and return it. `version=2` patches the GGUF header version
    (bytes 4-7) for the ctransformers header check; the layout is otherwise the same.
    `chat_tokens=True` adds ChatML's turn markers as special tokens (`CHAT_TOKENS`), as real
    chat models have them; the default vocabulary (and so the generated text) stays as it was."""
    import gguf

    tokens, scores, types, allowed = _vocab(chat_tokens)
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-model")
    writer.add_context_length(context_length)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE + (TOOL_TEMPLATE if chat_tokens else ""))

    # Dimension 0 of the residual stream is a large constant (every embedding has it and no
    # layer writes to it), so after the final norm it is a fixed positive value: a strongly
    # negative weight there in the output matrix suppresses a token regardless of context.
    embd = rand(n_vocab, EMBED, scale=1.0)
    embd[:, 0] = 8.0
    writer.add_tensor("token_embd.weight", embd)
    for i in range(LAYERS):
        attn_out = rand(EMBED, EMBED)
        attn_out[0, :] = 0.0
        ffn_down = rand(EMBED, FFN)
        ffn_down[0, :] = 0.0
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(EMBED, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", rand(EMBED, EMBED))
        writer.add_tensor(f"blk.{i}.attn_k.weight", rand(EMBED, EMBED))
        writer.add_tensor(f"blk.{i}.attn_v.weight", rand(EMBED, EMBED))
        writer.add_tensor(f"blk.{i}.attn_output.weight", attn_out)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(EMBED, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", rand(FFN, EMBED))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", rand(FFN, EMBED))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", ffn_down)
    out_norm = np.full(EMBED, 0.2, dtype=np.float32)
    out_norm[0] = 1.0
    writer.add_tensor("output_norm.weight", out_norm)
    output = rand(n_vocab, EMBED, scale=1.0)
    output[:, 0] = np.where(np.array(allowed), 0.0, -100.0)
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    if version != 3:
        with path.open("r+b") as fh:
            fh.seek(4)
            fh.write(int(version).to_bytes(4, "little"))
    return path
