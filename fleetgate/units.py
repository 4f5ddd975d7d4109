"""Sizes and durations as people read them in a terminal (pure)."""

from __future__ import annotations


def human_size(size: int) -> str:
    """Bytes as balena shows image sizes: 1.23 MB."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{size} B"


def duration(seconds: float) -> str:
    """Seconds as `1m 05s` or `12s`."""
    whole = int(round(seconds))
    return f"{whole // 60}m {whole % 60:02d}s" if whole >= 60 else f"{whole}s"
