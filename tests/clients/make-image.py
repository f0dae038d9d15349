#!/usr/bin/env python3
"""Writes a small OCI image layout for the client tests, without any registry or daemon.

make-image.py DIR TAG PLATFORM[,PLATFORM...] SEED

One platform gives an image manifest tagged TAG; several give an image index over one
manifest per platform. Each image has one gzip layer with a file whose content depends on
SEED and the platform, so that different calls make different digests, and 2 MiB of
incompressible bytes, so that the layer is above the registry's redirect threshold (1 MiB) and
pulls of it follow a redirect.
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile


def put_blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def layer(seed, platform):
    files = {
        "hello.txt": f"hello from {platform}, seed {seed}\n".encode(),
        "noise.bin": random.Random(f"{seed} {platform}").randbytes(2 * 1024 * 1024),
    }
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    raw = tar_bytes.getvalue()
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
        gz.write(raw)
    return raw, compressed.getvalue()


def image(root, seed, platform):
    os_name, arch = platform.split("/")
    raw, compressed = layer(seed, platform)
    config = {
        "architecture": arch,
        "os": os_name,
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    }
    config_desc = put_blob(root, json.dumps(config).encode())
    layer_desc = put_blob(root, compressed)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_desc}],
    }
    desc = put_blob(root, json.dumps(manifest).encode())
    return {"mediaType": manifest["mediaType"], **desc, "platform": {"os": os_name, "architecture": arch}}


def main():
    root, tag, platforms, seed = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    manifests = [image(root, seed, p) for p in platforms]
    if len(manifests) == 1:
        top = manifests[0]
        del top["platform"]
    else:
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        top = {"mediaType": index["mediaType"], **put_blob(root, json.dumps(index).encode())}
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(top["digest"])


if __name__ == "__main__":
    main()
