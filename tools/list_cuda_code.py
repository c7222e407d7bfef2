#!/usr/bin/env python3
"""Lists the CUDA code embedded in a model library or object file.

    python3 tools/list_cuda_code.py model.so

`modelc --target=cuda` embeds one CUDA fatbinary (docs/CUDA.md); this finds
every fatbinary in the file by its magic number and prints one line per
image, e.g.

    fatbin 1: elf sm_80 (104104 bytes, EM_CUDA)
    fatbin 1: elf sm_90 (113432 bytes, EM_CUDA)
    fatbin 1: ptx sm_80 (5216 bytes)

so that tests can check the requested architectures without cuobjdump
(which the toolkit here lacks) and without a GPU. Standard library only.
Exit status 1 when the file holds no fatbinary or one is malformed.
"""
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KINDS = {1: "ptx", 2: "elf"}
EM_CUDA = 190


def images(data, start):
    magic, version, header_size, fat_size = struct.unpack_from("<IHHQ", data, start)
    if magic != FATBIN_MAGIC or version != 1 or header_size < 16:
        raise ValueError(f"bad fatbinary header at offset {start}")
    p = start + header_size
    end = p + fat_size
    if end > len(data):
        raise ValueError(f"fatbinary at offset {start} runs past the end of the file")
    while p < end:
        kind, _, entry_header, size = struct.unpack_from("<HHIQ", data, p)
        if kind not in KINDS or entry_header < 32 or p + entry_header + size > end:
            raise ValueError(f"bad fatbinary entry at offset {p}")
        arch = struct.unpack_from("<I", data, p + 28)[0]
        payload = data[p + entry_header:p + entry_header + size]
        note = ""
        if kind == 2:
            # An uncompressed cubin is an ELF file for the CUDA machine.
            if payload[:4] == b"\x7fELF":
                machine = struct.unpack_from("<H", payload, 18)[0]
                note = ", EM_CUDA" if machine == EM_CUDA else f", e_machine {machine}"
            else:
                note = ", compressed"
        yield KINDS[kind], arch, size, note
        p += entry_header + size


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: list_cuda_code.py FILE")
    path = sys.argv[1]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        sys.exit(f"list_cuda_code.py: cannot read '{path}': {e.strerror}")
    magic = struct.pack("<I", FATBIN_MAGIC)
    count = 0
    at = data.find(magic)
    try:
        while at != -1:
            count += 1
            for kind, arch, size, note in images(data, at):
                print(f"fatbin {count}: {kind} sm_{arch} ({size} bytes{note})")
            fat_size = struct.unpack_from("<Q", data, at + 8)[0]
            at = data.find(magic, at + 16 + fat_size)
    except (ValueError, struct.error) as e:
        sys.exit(f"list_cuda_code.py: '{path}': {e}")
    if count == 0:
        sys.exit(f"list_cuda_code.py: '{path}' holds no CUDA fatbinary")


if __name__ == "__main__":
    main()
