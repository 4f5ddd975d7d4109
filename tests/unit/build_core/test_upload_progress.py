"""Docker's push stream tallied into bytes sent and layers already there (issue 19)."""

from __future__ import annotations

from fleetgate.build.publish import push_digest
from fleetgate.build.upload_progress import Uploaded, UploadTally, uploaded_line, uploading_line

DIGEST = "sha256:" + "0f" * 32
# What the daemon sent for an image of two layers, one new (3 MB) and one the registry had.
STREAM = [
    {"status": "The push refers to repository [127.0.0.1:5000/alice/plain/main]"},
    {"status": "Preparing", "progressDetail": {}, "id": "76f7337b4a6d"},
    {"status": "Preparing", "progressDetail": {}, "id": "1c6e138d6d41"},
    {"status": "Mounted from alice/other/main", "progressDetail": {}, "id": "1c6e138d6d41"},
    {"status": "Pushing", "progressDetail": {"current": 33792, "total": 3000000}, "id": "76f7337b4a6d"},
    {"status": "Pushing", "progressDetail": {"current": 1508352, "total": 3000000}, "id": "76f7337b4a6d"},
    {"status": "Pushing", "progressDetail": {"current": 3002368, "total": 3000000}, "id": "76f7337b4a6d"},
    {"status": "Pushed", "progressDetail": {}, "id": "76f7337b4a6d"},
    {"status": f"t1: digest: {DIGEST} size: 738"},
    {"progressDetail": {}, "aux": {"Tag": "t1", "Digest": DIGEST, "Size": 738}},
]


def test_the_tally_follows_the_stream() -> None:
    tally = UploadTally()
    seen = [tally.add(chunk) for chunk in STREAM]
    assert seen[3] == Uploaded(0, 0, 1)
    assert seen[5] == Uploaded(1508352, 3000000, 1)
    assert seen[6] == Uploaded(3000000, 3000000, 1)  # the daemon overshoots its own total
    assert seen[-1] == Uploaded(3000000, 3000000, 1, done=True)


def test_push_digest_reports_progress_as_it_reads() -> None:
    seen: list[Uploaded] = []
    assert push_digest(iter(STREAM), "r/a:t1", seen.append) == DIGEST
    assert len(seen) == len(STREAM) and seen[-1].done


def test_lines() -> None:
    uploads = {"main": Uploaded(1_500_000, 3_000_000, 1), "web": Uploaded(2_000_000, 2_000_000, 3, True)}
    assert uploading_line(uploads, "6s") == "Uploading images (6s): 3.50 MB of 5.00 MB sent; web done"
    assert uploaded_line(uploads, "127.0.0.1:5000", "9s") == (
        "Uploaded 2 images to 127.0.0.1:5000 in 9s: 3.50 MB sent, 4 layers already there"
    )
    assert uploaded_line({"main": Uploaded(0, 0, 1, True)}, "r:5000", "0s") == (
        "Uploaded 1 image to r:5000 in 0s: 0 B sent, 1 layer already there"
    )
