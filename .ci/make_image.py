"""Write a one-layer image tarball in `docker save` layout, with the architecture we say."""

# Why: `docker import --platform` on Engine 20.10 records amd64 whatever it is told, and BuildKit's
# `--platform linux/arm/v7` then ignores the local image and tries to pull (notes/docker-here.md).
# A hand-written `docker save` tarball whose config names the arch is loaded as such by `docker load`.

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def layer_tar(rootfs: Path) -> bytes:
    """The rootfs folder as an uncompressed tar, owned by root, symlinks kept."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = Path(dirpath, name)
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if info.isfile():
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
    return buffer.getvalue()


def image_tar(rootfs: Path, tag: str, arch: str, variant: str | None, os_name: str) -> bytes:
    """The whole `docker save` tarball: manifest.json, config and one layer."""
    layer = layer_tar(rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config: dict = {
        "architecture": arch,
        "created": "1970-01-01T00:00:00Z",
        "os": os_name,
        "config": {"Env": [f"PATH={DEFAULT_PATH}"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "fleetgate .ci/make_image.py", "comment": "base image for tests"}],
    }
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (
            (config_name, config_bytes),
            (layer_name, layer),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def main() -> int:
    """Parse arguments and write the tarball to stdout (pipe it into `docker load`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rootfs", type=Path)
    parser.add_argument("tag")
    parser.add_argument("--arch", required=True)
    parser.add_argument("--variant")
    parser.add_argument("--os", default="linux")
    args = parser.parse_args()
    sys.stdout.buffer.write(image_tar(args.rootfs, args.tag, args.arch, args.variant, args.os))
    return 0


if __name__ == "__main__":
    sys.exit(main())
