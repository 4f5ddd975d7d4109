"""Docker's push stream tallied for the pusher: bytes sent of the layers uploaded, layers already there.

The daemon reports each layer as it goes (`Pushing` with current/total bytes, then `Pushed`, or
`Layer already exists` / `Mounted from …` when the registry had it). The tally is the pure part; the
line says it for every service of a release at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetgate.units import human_size

PRESENT = ("Layer already exists", "Mounted from")


@dataclass(frozen=True)
class Uploaded:
    """Where one image's upload stands."""

    sent: int = 0  # bytes of layers sent so far
    total: int = 0  # bytes of the layers being sent (known once each layer starts)
    present: int = 0  # layers the registry already had
    done: bool = False


class UploadTally:
    """Folds one image's push stream, chunk by chunk, into `Uploaded`."""

    def __init__(self) -> None:
        self._layers: dict[str, tuple[int, int]] = {}  # id -> (sent, total)
        self._present: set[str] = set()

    def add(self, chunk: Mapping) -> Uploaded:
        """Take one decoded chunk of the stream; where the upload stands now."""
        layer, status = chunk.get("id"), str(chunk.get("status") or "")
        detail = chunk.get("progressDetail") or {}
        if layer and status == "Pushing" and detail.get("total"):
            total = int(detail["total"])
            self._layers[layer] = (min(int(detail.get("current") or 0), total), total)
        elif layer and status == "Pushed" and layer in self._layers:
            total = self._layers[layer][1]
            self._layers[layer] = (total, total)
        elif layer and status.startswith(PRESENT):
            self._present.add(layer)
        return self.now(done=bool((chunk.get("aux") or {}).get("Digest")))

    def now(self, done: bool = False) -> Uploaded:
        """Where the upload stands."""
        sent = sum(s for s, _ in self._layers.values())
        total = sum(t for _, t in self._layers.values())
        return Uploaded(sent, total, len(self._present), done)


def uploading_line(uploads: Mapping[str, Uploaded], seconds: str) -> str:
    """`Uploading images (12s): 3.20 MB of 8.00 MB sent; main done` (pure)."""
    sent = sum(u.sent for u in uploads.values())
    total = sum(u.total for u in uploads.values())
    done = sorted(name for name, u in uploads.items() if u.done)
    line = f"Uploading images ({seconds}): {human_size(sent)} of {human_size(total)} sent"
    return line + (f"; {', '.join(done)} done" if done else "")


def uploaded_line(uploads: Mapping[str, Uploaded], registry: str, seconds: str) -> str:
    """`Uploaded 2 images to REGISTRY in 3s: 8.00 MB sent, 4 layers already there` (pure)."""
    sent = sum(u.sent for u in uploads.values())
    present = sum(u.present for u in uploads.values())
    images = f"{len(uploads)} image{'s' if len(uploads) != 1 else ''}"
    line = f"Uploaded {images} to {registry} in {seconds}: {human_size(sent)} sent"
    return line + (f", {present} layer{'s' if present != 1 else ''} already there" if present else "")
