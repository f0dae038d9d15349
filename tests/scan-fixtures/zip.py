#!/usr/bin/env python3
"""Writes the zip files the scan tests load as OSV exports (tests/common/scan.rs).

zip.py < ENTRIES > ZIP       ENTRIES: a JSON list of [name, text] pairs, each a deflated entry
zip.py --bomb MIB > ZIP      one entry, BOMB-1.json, of MIB mebibytes: valid JSON (an
                             advisory padded with spaces) that deflates about a thousandfold

Python's zipfile and zlib do in seconds what the tests' unoptimised build would take minutes
for (a gibibyte through deflate).
"""
import io
import json
import sys
import zipfile

MIB = 1 << 20


def entry_info(name):
    """A deflated entry with a fixed date, so that the same entries give the same bytes."""
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def main():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if sys.argv[1:2] == ["--bomb"]:
            # Under 2 GiB, so a plain entry (no zip64): the bomb is in the ratio alone.
            with archive.open(entry_info("BOMB-1.json"), "w") as entry:
                entry.write(b'{"id": "BOMB-1", "modified": "2026-01-01T00:00:00Z",')
                for _ in range(int(sys.argv[2])):
                    entry.write(b" " * MIB)
                entry.write(b'"affected": []}')
        else:
            for name, text in json.load(sys.stdin):
                archive.writestr(entry_info(name), text)
    sys.stdout.buffer.write(out.getvalue())


if __name__ == "__main__":
    main()
