#!/usr/bin/env python3
"""Packs directories into an OCI image layout, one gzip layer per directory, in order.

oci-layout.py OUT TAG DIR [DIR...]

Writes OUT/oci-layout, OUT/index.json (one image manifest, tagged TAG) and OUT/blobs/sha256/*:
each DIR as a gzip tar layer, an image config whose rootfs.diff_ids are the digests of the
uncompressed tars, and the manifest. Prints the manifest's digest. The same DIRs give the
same digests: entries are sorted, owners are numeric only, gzip carries no timestamp. Layers
are streamed to disk, never held in memory. OUT must not exist (write elsewhere and rename,
so that an interrupted run leaves nothing that looks finished).
"""
import gzip
import hashlib
import json
import os
import platform
import sys
import tarfile

ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


class Hashing:
    """A write-only file that hashes and counts what passes through it to `inner`."""

    def __init__(self, inner):
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self):
        self.inner.flush()


def put_blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def numeric_owner(info):
    info.uname = info.gname = ""
    return info


def pack_layer(out, directory):
    """Streams `directory` as a gzip tar into a blob; returns (descriptor, diff_id)."""
    partial = os.path.join(out, "blobs", "layer.partial")
    with open(partial, "wb") as raw:
        compressed = Hashing(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=6) as gz:
            uncompressed = Hashing(gz)
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                # Paths relative to the root, as image layers name them ("etc/passwd");
                # tarfile recurses in sorted order and records hard links as links.
                for name in sorted(os.listdir(directory)):
                    tar.add(os.path.join(directory, name), arcname=name, filter=numeric_owner)
    digest = compressed.sha.hexdigest()
    os.rename(partial, os.path.join(out, "blobs", "sha256", digest))
    descriptor = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": "sha256:" + digest,
        "size": compressed.size,
    }
    return descriptor, "sha256:" + uncompressed.sha.hexdigest()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, tag, directories = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    layers = [pack_layer(out, d) for d in directories]
    config = {
        "architecture": ARCHITECTURES.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **put_blob(out, json.dumps(config).encode()),
        },
        "layers": [descriptor for descriptor, _ in layers],
    }
    top = {"mediaType": manifest["mediaType"], **put_blob(out, json.dumps(manifest).encode())}
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(top["digest"])


if __name__ == "__main__":
    main()
