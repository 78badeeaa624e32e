"""Figure 5: resident memory of the server process after it has served the benchmark load."""

from __future__ import annotations

from bench.common import Context, Row, ratio, rss_mb

__all__ = ["TARGET_MB", "row_from", "rss_mb"]

TARGET_MB = 400.0


def row_from(ctx: Context, ours_mb: float, llama_mb: float | None) -> Row:
    model = "tiny test model" if ctx.quick else "embedded SmolLM2"
    return Row(
        "5. server RSS after warm-up",
        f"{ours_mb:.0f} MB",
        f"llama.cpp server {llama_mb:.0f} MB" if llama_mb is not None else "—",
        ratio(ours_mb, llama_mb) if llama_mb else None,
        f"≤ {TARGET_MB:.0f} MB",
        ours_mb <= TARGET_MB,
        f"{model}, after the streaming benchmarks",
    )
