#!/usr/bin/env python3
"""zip-bomb.py MIB > ZIP: a zip bomb for the scan tests (tests/common/scan.rs).

One deflated entry, BOMB-1.json, of MIB mebibytes: valid JSON (an advisory padded with
spaces) that deflates about a thousandfold, so 1 GiB fits in 1 MB. Python's zlib does this
in seconds, where the tests' unoptimised build would take minutes. The entry has a fixed
date, so the same size gives the same bytes.
"""
import io
import sys
import zipfile

MIB = 1 << 20


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    info = zipfile.ZipInfo("BOMB-1.json", date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        # Under 2 GiB, so a plain entry (no zip64): the bomb is in the ratio alone.
        with archive.open(info, "w") as entry:
            entry.write(b'{"id": "BOMB-1", "modified": "2026-01-01T00:00:00Z",')
            for _ in range(int(sys.argv[1])):
                entry.write(b" " * MIB)
            entry.write(b'"affected": []}')
    sys.stdout.buffer.write(out.getvalue())


if __name__ == "__main__":
    main()
