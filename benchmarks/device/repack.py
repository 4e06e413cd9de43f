"""Repack a wheel: drop or replace members, regenerate RECORD, optionally LZMA-compress big members.

usage: repack.py SRC.whl DST.whl [--drop-list FILE] [--replace MEMBER=PATH ...] [--lzma-over BYTES]
"""

import argparse
import base64
import hashlib
import lzma
import zipfile
from pathlib import Path


class BigLZMACompressor:
    """zipfile's LZMA compressor with preset 9e (64 MiB dictionary) instead of the default."""

    def __init__(self):
        self._comp = None

    def _init(self):
        filt = {"id": lzma.FILTER_LZMA1, "preset": 9 | lzma.PRESET_EXTREME}
        props = lzma._encode_filter_properties(filt)
        self._comp = lzma.LZMACompressor(
            lzma.FORMAT_RAW, filters=[lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)]
        )
        import struct

        return struct.pack("<BBH", 9, 4, len(props)) + props

    def compress(self, data):
        if self._comp is None:
            return self._init() + self._comp.compress(data)
        return self._comp.compress(data)

    def flush(self):
        if self._comp is None:
            return self._init() + self._comp.flush()
        return self._comp.flush()


zipfile.LZMACompressor = BigLZMACompressor


def digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--drop-list")
    ap.add_argument("--replace", action="append", default=[])
    ap.add_argument("--lzma-over", type=int, default=0)
    args = ap.parse_args()
    drop = set()
    if args.drop_list:
        drop = {line.strip() for line in Path(args.drop_list).read_text().splitlines() if line.strip()}
    replace = dict(r.split("=", 1) for r in args.replace)
    zin = zipfile.ZipFile(args.src)
    names = [i for i in zin.infolist() if i.filename not in drop]
    record_name = next(i.filename for i in names if i.filename.endswith(".dist-info/RECORD"))
    rows = []
    with zipfile.ZipFile(args.dst, "w") as zout:
        for info in names:
            if info.filename == record_name:
                continue
            data = Path(replace[info.filename]).read_bytes() if info.filename in replace else zin.read(info)
            ni = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            ni.external_attr = info.external_attr
            if args.lzma_over and len(data) > args.lzma_over:
                ni.compress_type = zipfile.ZIP_LZMA
            else:
                ni.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(ni, data, compresslevel=9 if ni.compress_type == zipfile.ZIP_DEFLATED else None)
            rows.append(f"{info.filename},{digest(data)},{len(data)}")
        rows.append(f"{record_name},,")
        ri = zipfile.ZipInfo(record_name, date_time=zin.getinfo(record_name).date_time)
        ri.external_attr = zin.getinfo(record_name).external_attr
        ri.compress_type = zipfile.ZIP_DEFLATED
        zout.writestr(ri, "\n".join(rows) + "\n")
    print(f"{args.dst}: {len(rows)} members, dropped {len(zin.infolist()) - len(names)}")


if __name__ == "__main__":
    main()
