"""The pure parts of publish: the push stream's verdict, image names and the registry's URL."""

import pytest
from fleetgate.build.publish import PublishFailed, Registry, image_repository, push_digest

DIGEST = "sha256:" + "ab" * 32


def test_digest_comes_from_the_aux_chunk():
    chunks = [
        {"status": "The push refers to repository [r/a]"},
        {"status": "Pushed", "id": "123"},
        {"status": "t: digest: ... size: 528"},
        {"progressDetail": {}, "aux": {"Tag": "t", "Digest": DIGEST, "Size": 528}},
    ]
    assert push_digest(chunks, "r/a:t") == DIGEST


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        (
            [{"status": "Pushing"}, {"errorDetail": {"message": "unauthorized: authentication required"}}],
            "the registry refused r/a:t: unauthorized: authentication required",
        ),
        ([{"error": "denied:\n  quota\texceeded"}], "the registry refused r/a:t: denied: quota exceeded"),
        # An error after the digest still fails: a 200 with an error chunk is not success.
        (
            [{"aux": {"Digest": DIGEST}}, {"error": "blob upload unknown"}],
            "the registry refused r/a:t: blob upload unknown",
        ),
        ([{"status": "Pushed"}], "pushing r/a:t ended without a digest from the registry"),
        ([{"aux": {"Digest": "md5:00"}}], "pushing r/a:t ended without a digest from the registry"),
    ],
)
def test_push_stream_failures(chunks, message):
    with pytest.raises(PublishFailed) as failure:
        push_digest(chunks, "r/a:t")
    assert str(failure.value) == message


def test_image_repository():
    repository = image_repository(Registry("reg:5000"), "alice", "my-fleet", "main")
    assert repository == "reg:5000/alice/my-fleet/main"
    for bad in ("Main", "a/b", "-a", "a..b", ""):
        with pytest.raises(PublishFailed, match="cannot be part of an image name"):
            image_repository(Registry("reg:5000"), "alice", "fleet", bad)


@pytest.mark.parametrize(
    ("registry", "url"),
    [
        (Registry("127.0.0.1:5000"), "http://127.0.0.1:5000"),
        (Registry("localhost:5000"), "http://localhost:5000"),
        (Registry("registry.example.com"), "https://registry.example.com"),
        (Registry("10.0.0.2:5000", scheme="http"), "http://10.0.0.2:5000"),
    ],
)
def test_registry_base_url(registry, url):
    assert registry.base_url == url
