"""Hostile checkpoint files, built here from raw pickle opcodes (issue 10).

Each function returns the bytes of a file laid out as torch.save lays out its zip
(archive/data.pkl, then the small records torch reads beside it), so torch.load
really tries to load it. Nothing here is loaded by torch in the test process: some
of these files kill or freeze the process that loads them.
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile

PROTO2 = b"\x80\x02"            # PROTO 2, as torch.save writes
NONE, EMPTY_DICT, EMPTY_LIST, MARK = b"N", b"}", b"]", b"("
TUPLE1, TUPLE2, SETITEM, SETITEMS, APPEND, APPENDS = b"\x85", b"\x86", b"s", b"u", b"a", b"e"
REDUCE, STOP = b"R", b"."


def binput(i: int) -> bytes:
    return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)


def binget(i: int) -> bytes:
    return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)


def long1(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def global_(module: bytes, name: bytes) -> bytes:
    return b"c" + module + b"\n" + name + b"\n"


def torch_zip(pkl: bytes | list[bytes], *, deflate: bool = False, pickle_name: str = "archive/data.pkl",
              extra: dict[str, bytes] | None = None) -> bytes:
    """A zip laid out as torch.save writes it, holding pkl as its data.pkl (given whole, or in chunks)."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method, compresslevel=1 if deflate else None) as z:
        with z.open(pickle_name, "w") as f:   # written in chunks: the large ones never sit in memory whole
            for chunk in ([pkl] if isinstance(pkl, bytes) else pkl):
                f.write(chunk)
        records = {"archive/.format_version": b"1", "archive/.storage_alignment": b"64",
                   "archive/byteorder": b"little", **(extra or {}), "archive/version": b"3\n"}
        for name, data in records.items():
            z.writestr(name, data)
    return buf.getvalue()


def legacy_file(obj_pkl: bytes) -> bytes:
    """torch's legacy (pre-zip) format: magic number, protocol, sys info, the object, storage keys, storages."""
    import torch.serialization as ts
    head = b"".join(pickle.dumps(x, protocol=2) for x in (
        ts.MAGIC_NUMBER, ts.PROTOCOL_VERSION, dict(protocol_version=ts.PROTOCOL_VERSION, little_endian=True,
                                                    type_sizes=dict(short=2, int=4, long=4))))
    return head + obj_pkl + pickle.dumps([], protocol=2)


def _nest(depth: int) -> bytes:
    return NONE + TUPLE1 * depth      # ((((None,),),),): one byte a level


def deep_nesting(depth: int = 1_000_000) -> bytes:
    """A dict whose two keys are equal tuples nested depth levels deep, built apart.

    torch's unpickler builds them without recursing, then the dict hashes the first
    key: tuplehash recurses in C with no depth check, and at a million levels the
    stack overflows (SIGSEGV). At ten thousand levels the hash survives, and the
    second key, equal to the first, is compared with it: RecursionError.
    """
    return torch_zip(PROTO2 + EMPTY_DICT + _nest(depth) + NONE + SETITEM + _nest(depth) + NONE + SETITEM + STOP)


def deep_marks(depth: int = 1_000_000) -> bytes:
    """deep_nesting's keys made with a MARK a level, (((( ... None t t t t, rather than TUPLE1."""
    nest = MARK * depth + NONE + b"t" * depth
    return torch_zip(PROTO2 + EMPTY_DICT + nest + NONE + SETITEM + nest + NONE + SETITEM + STOP)


def deep_nesting_pickle(depth: int) -> bytes:
    """The object pickle of deep_nesting, alone (for the legacy format)."""
    return PROTO2 + EMPTY_DICT + _nest(depth) + NONE + SETITEM + _nest(depth) + NONE + SETITEM + STOP


def hash_chain(depth: int = 30) -> bytes:
    """A dict key that is a pair of pairs of pairs... of None, each level the level below twice by memo.

    Five bytes a level; hashing it visits 2^depth tuples (torch.load took 3 s at 27 levels here,
    so ~25 s at 30), and printing it far longer.
    """
    body = NONE + binput(0) + (binget(0) + TUPLE2 + binput(0)) * depth   # the top of the stack, paired with itself
    return torch_zip(PROTO2 + EMPTY_DICT + body + NONE + SETITEM + STOP)


def inflating_pickle(megabytes: int = 190) -> bytes:
    """A data.pkl of `megabytes` MB (a list of Nones) deflated to a few hundred KB: under the 200 MB total cap."""
    chunk = NONE * 2**20
    chunks = [PROTO2 + EMPTY_LIST + MARK, *([chunk] * megabytes), APPENDS + STOP]
    return torch_zip(chunks, deflate=True)


def long_opcode_stream(megabytes: int = 15) -> bytes:
    """A list of 15 million Nones: a 15 MB pickle, 70 KB deflated, that took torch.load 17 s and 280 MB."""
    return torch_zip([PROTO2 + EMPTY_LIST + MARK, *([NONE * 2**20] * megabytes), APPENDS + STOP], deflate=True)


def many_objects(count: int = 1_000_000) -> bytes:
    """A list of a million empty sets: 1 MB of pickle (5 KB deflated) that took torch.load 3.6 s and 235 MB."""
    return torch_zip(PROTO2 + EMPTY_LIST + MARK + b"\x8f" * count + APPENDS + STOP, deflate=True)


def huge_memo(count: int = 200_000) -> bytes:
    """One None stored under 200,000 memo keys (LONG_BINPUT): 1 MB; a million keys in 5 MB take torch 2.5 s."""
    return torch_zip(PROTO2 + NONE + b"".join(binput(i) for i in range(256, 256 + count)) + STOP, deflate=True)


def hash_collisions(count: int = 60_000) -> bytes:
    """A dict of ints that all hash alike (multiples of 2**61 - 1): quadratic to insert (8,000: 0.7 s; 60,000: 40 s)."""
    keys = b"".join(long1(i * (2**61 - 1)) + NONE for i in range(1, count + 1))
    return torch_zip(PROTO2 + EMPTY_DICT + MARK + keys + SETITEMS + STOP, deflate=True)


def bytearray_bomb(size: int = 3 * 2**30) -> bytes:
    """builtins.bytearray(3 GB), a call torch's weights-only loader allows: 3 GB of zeros (18 s) from 640 bytes."""
    return torch_zip(PROTO2 + global_(b"builtins", b"bytearray") + long1(size) + TUPLE1 + REDUCE + STOP)


def cycle() -> bytes:
    """A list that holds itself."""
    return torch_zip(PROTO2 + EMPTY_LIST + binput(0) + binget(0) + APPEND + STOP)


def long_global_name(length: int = 1_000_000) -> bytes:
    """A GLOBAL whose name is a megabyte long: torch's refusal quotes it, and the caller's message with it."""
    return torch_zip(PROTO2 + global_(b"os", b"x" * length) + STOP)


def two_pickles() -> bytes:
    """A zip with a harmless archive/data.pkl and a hostile ARCHIVE/DATA.PKL: miniz matches names ignoring case."""
    return torch_zip(PROTO2 + NONE + STOP, extra={"ARCHIVE/DATA.PKL": PROTO2 + _nest(1000) + STOP})


def legacy_deep_nesting(depth: int = 1_000_000) -> bytes:
    """deep_nesting in torch's legacy format (not a zip: a sequence of pickles)."""
    return legacy_file(deep_nesting_pickle(depth))


def legacy_long_pickle(megabytes: int = 17) -> bytes:
    """A legacy-format file whose object pickle is one string of 17 MB."""
    size = megabytes * 2**20
    return legacy_file(PROTO2 + b"X" + struct.pack("<I", size) + b"a" * size + STOP)


def bad_crc(name_length: int = 5_000) -> bytes:
    """A zip whose data.pkl, under a 5,000-character name, fails its CRC: zipfile's error quotes the name."""
    pkl = PROTO2 + NONE * 100 + STOP
    data = bytearray(torch_zip(pkl, pickle_name="archive/" + "x" * name_length + "data.pkl"))
    data[data.find(pkl) + 10] = ord(")")   # still a pickle, no longer the bytes the CRC was taken of
    return bytes(data)
