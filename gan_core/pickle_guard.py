"""Check a torch checkpoint's pickles before torch.load reads them, by walking opcodes.

torch.load(weights_only=True) runs no code, but it builds whatever the pickle describes,
and a small file can describe ruin:
  * a tuple nested a million levels deep, as a dict key: torch's unpickler builds it in a
    loop, then the dict hashes it, and tuplehash recurses in C with no depth check until the
    stack overflows: the process dies by SIGSEGV. At ten thousand levels the hash survives,
    and comparing it with an equal key, or printing it, raises RecursionError;
  * a pair of pairs of pairs... of one memoised object (BINPUT/BINGET), each level the one
    below twice: 30 levels in 200 bytes are 2^30 nodes to hash, compare or print;
  * many dict keys whose hashes collide (only str and bytes hashes are randomised; ints,
    floats and tuples can be chosen to collide): inserting k of them costs k^2 compares;
  * builtins.bytearray(3_000_000_000), a call torch allows: 3 GB of zeros from 80 bytes;
  * a GLOBAL name a megabyte long: torch's error message is searched with a regex that is
    quadratic in it (30 KB: 8 s);
  * a data.pkl that inflates to 190 MB, read and parsed whole; 15 million opcodes; a
    million objects in the memo.
This module walks the opcodes once without building anything. For every stack item and
memo entry it keeps what torch's unpickler would do with the object: how many nodes it
stands for with shared references expanded, how deep it nests, whether it has been placed
in another object, whether its hash is predictable. It refuses past the limits below.
Only the opcodes torch's weights-only unpickler reads are accepted (it refuses others too),
so each is modelled as that unpickler runs it. The walk is linear in the pickle's length,
and stops after MAX_STEPS opcodes, runs of numbers aside, which it counts at C speed.
"""
from __future__ import annotations

import struct
import zipfile
import zlib
from operator import itemgetter
from typing import BinaryIO

# Limits, far above what real files use (measured with _stats, see tests/test_pickle_guard.py):
#                          data.pkl bytes   opcodes  steps  depth  marks  memo   expanded  walked  predictable
#   book.pt (G, D, Adam, history of 500 epochs)
#                                  50,119     6,922  1,887      8      6   469      6,152   1,388          130
#   classifier.pt                   1,136       349    329      6      4    98        206     230            8
#   book-snapshots/epoch-0500.pt   46,130     5,334    341      6      4   101      5,178     181            6
#   book-style torch.save(G.state_dict())
#                                     671       261    258      5      3    72        148     199           40
#   book.pt with 100,000 epochs of history, the most GANConfig allows (one float per epoch and key)
#                               9,007,099 1,003,902  4,857      8      6   469  1,001,152   1,388          130
# (data.pkl is the pickle alone: the tensors' bytes are other members of the zip.)
MAX_PICKLE_BYTES = 16 * 2**20   # bytes of pickle: checked in the zip's directory before inflating
MAX_OPCODES = 2_000_000         # torch's unpickler makes an object for each, at about a microsecond each
MAX_STEPS = 200_000             # opcodes besides runs of numbers, which this walk takes at C speed: ~1 us each
# torch's unpickler itself never recurses (its MARK stack is a list); what recurses is hashing a key
# (tuplehash, in C, unchecked), comparing and printing: as deep as the object nests, shared references
# counting at the depth of what they refer to. Bounded far below the 1,000 frames Python allows.
MAX_DEPTH = 100                 # levels an object nests; also MARKs open at once (a list each in torch)
MAX_MEMO = 100_000              # objects in the memo
MAX_EXPANDED = 4_000_000        # nodes one object stands for, shared references expanded: one print of it
MAX_WALKED = 1_000_000          # nodes the unpickler walks: keys hashed, arguments of calls, states set, storage ids
MAX_PREDICTABLE = 2_000         # hashed values with predictable hashes: k colliding cost k^2/2 compares (2,000: 0.06 s)
MAX_NAME = 256                  # bytes in a GLOBAL line: torch quotes it, and its regex is quadratic in it

_LEGACY_PICKLES = 5   # torch's legacy format: magic number, protocol, sys info, the object, storage keys
_ZIP_MAGIC = b"PK\x03\x04"   # what torch.serialization._is_zipfile checks, and only that

# One record per object torch would build: {0: expanded size, 1: depth, 2: placed, 3: kind}. A dict of
# ints, because the garbage collector does not track those: 200,000 lists cost three times as much to make.
_OBJ, _STR, _GLOBAL, _HASHER = 0, 1, 2, 3
# Globals whose call hashes the items of its argument (set(list), Counter(list), OrderedDict(pairs)).
_HASHERS = {b"set", b"frozenset", b"Counter", b"OrderedDict", b"dict"}
_U32 = struct.Struct("<I").unpack_from
# What reading a damaged or odd zip raises (zlib.error: a broken deflate stream; RuntimeError: encrypted).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
               RuntimeError, zlib.error)
_SIZE, _DEPTH, _KIND = itemgetter(0), itemgetter(1), itemgetter(3)
# Shared records of small immutable values (numbers, short strings): "placed" from the start, so never changed.
_NUM, _TEXT = {0: 1, 1: 0, 2: 1, 3: _OBJ}, {0: 1, 1: 0, 2: 1, 3: _STR}
# Opcodes that push a number (or None, a bool, ()), with their length; runs of one are matched at C speed.
_SCALARS = {0x4B: 2, 0x4D: 3, 0x4A: 5, 0x47: 9, 0x4E: 1, 0x88: 1, 0x89: 1, 0x29: 1}


class PickleRefused(ValueError):
    """A checkpoint's pickle is past a limit or malformed; the message is one short line."""


class PickleUnreadable(PickleRefused):
    """Not a checkpoint torch could read at all (not a zip, truncated, not a pickle): damage more than malice."""


def check_torch_file(fobj: BinaryIO) -> None:
    """Refuse (PickleRefused) a checkpoint whose pickles torch.load should not read; leaves fobj at 0."""
    _stats(fobj)


def _stats(fobj: BinaryIO) -> dict[str, int]:
    """Walk a torch file's pickles as check_torch_file does; return what they use, for measuring limits."""
    fobj.seek(0)
    try:
        # Decided as torch decides: a zip only when it starts with a local file header.
        if fobj.read(4) == _ZIP_MAGIC:
            fobj.seek(0)
            data, count = _zip_pickle(fobj), 1
        else:
            fobj.seek(0)
            # The legacy pickles come first and the raw tensor bytes after them: read only the pickles' share.
            data, count = fobj.read(MAX_PICKLE_BYTES + 1), _LEGACY_PICKLES
        return _walk_all(data, count)
    finally:
        fobj.seek(0)


def _zip_pickle(fobj: BinaryIO) -> bytes:
    """The bytes of the zip's data.pkl, its size checked before it is inflated."""
    try:
        z = zipfile.ZipFile(fobj)
    except _ZIP_ERRORS as e:
        raise PickleUnreadable(f"it is not a zip archive that can be read ({_short(str(e))})") from None
    with z:
        # torch reads <first folder>/data.pkl, and miniz matches names without regard to case:
        # with exactly one member that could be it, the one checked is the one torch reads.
        found = [i for i in z.infolist() if i.filename.lower().endswith("data.pkl")]
        if len(found) != 1:
            raise PickleRefused(f"it has {len(found)} members named data.pkl, where torch.save writes one")
        info = found[0]
        if info.file_size > MAX_PICKLE_BYTES:
            raise PickleRefused(f"its data.pkl unpacks to {info.file_size / 2**20:.0f} MB, "
                                f"over the {MAX_PICKLE_BYTES // 2**20} MB a checkpoint's pickle may take")
        try:
            with z.open(info) as f:
                data = f.read(MAX_PICKLE_BYTES + 1)   # no more than the limit, whatever the directory claims
        except _ZIP_ERRORS as e:
            raise PickleUnreadable(f"its data.pkl cannot be read ({_short(str(e))})") from None
    if len(data) > MAX_PICKLE_BYTES:
        raise PickleRefused(f"its data.pkl unpacks to more than the {MAX_PICKLE_BYTES // 2**20} MB "
                            "a checkpoint's pickle may take")
    return data


def _walk_all(data: bytes, count: int) -> dict[str, int]:
    stats = dict(opcodes=0, steps=0, depth=0, marks=0, memo=0, expanded=0, walked=0, predictable=0, bytes=0)
    pos = 0
    for _ in range(count):
        pos = _walk(data, pos, stats)
    stats["bytes"] = pos
    return stats


def _short(text: str, n: int = 60) -> str:
    """At most n characters of something taken from a file, printable, on one line."""
    text = text.encode("ascii", "backslashreplace").decode().replace("\n", " ")
    return text if len(text) <= n else text[:n] + "..."


def _walk(data: bytes, pos: int, stats: dict[str, int]) -> int:
    """Walk one pickle from pos to its STOP, as torch's weights-only Unpickler reads it; return the position after."""
    stack: list[dict] = []
    metastack: list[list[dict]] = []
    memo: dict[int, dict] = {}
    num, text = _NUM, _TEXT
    steps, walked, predictable, marks = stats["steps"], stats["walked"], stats["predictable"], stats["marks"]
    extra = stats["opcodes"] - steps   # opcodes = steps + what runs of numbers held beyond their first
    n = len(data)
    try:
        while True:
            op = data[pos]
            steps += 1
            if steps > MAX_STEPS:
                raise PickleRefused(f"its pickle has more than {MAX_STEPS:,} opcodes besides runs of numbers")
            if op in _SCALARS:  # numbers, None, bools, (): a run of the same one is counted at C speed
                width = _SCALARS[op]
                k = _run_length(data, pos, op, width)
                pos += k * width
                if pos > n:
                    raise IndexError
                extra += k - 1
                if steps + extra > MAX_OPCODES:
                    raise PickleRefused(f"its pickle has more than {MAX_OPCODES:,} opcodes")
                stack += [num] * k
                continue
            pos += 1
            if op == 0x71:      # BINPUT
                memo[data[pos]] = stack[-1]
                pos += 1
                if len(memo) > MAX_MEMO:
                    raise PickleRefused(f"its pickle keeps more than {MAX_MEMO:,} objects in its memo")
            elif op == 0x68:    # BINGET
                stack.append(memo[data[pos]])
                pos += 1
            elif op == 0x58:    # BINUNICODE
                size = _U32(data, pos)[0]
                pos += 4 + size
                if pos > n:
                    raise IndexError
                # A long string costs its length to print, wherever it is referred to.
                stack.append(text if size < 16 else {0: 1 + size // 16, 1: 0, 2: 1, 3: _STR})
            elif op == 0x28:    # MARK
                metastack.append(stack)
                stack = []
                if len(metastack) > marks:
                    marks = len(metastack)
                    if marks > MAX_DEPTH:
                        raise PickleRefused(f"its pickle nests more than {MAX_DEPTH} MARKs")
            elif op == 0x65:    # APPENDS
                items = stack
                stack = metastack.pop()
                _put_into(stack[-1], items)
            elif op == 0x75:    # SETITEMS: keys are hashed
                items = stack
                stack = metastack.pop()
                if len(items) % 2:
                    raise IndexError
                keys = items[::2]
                walked += sum(map(_SIZE, keys))
                predictable += len(keys) - list(map(_KIND, keys)).count(_STR)
                _check_costs(walked, predictable)
                _put_into(stack[-1], items)
            elif op == 0x61:    # APPEND
                item = stack.pop()
                _put_into(stack[-1], (item,))
            elif op == 0x73:    # SETITEM
                value = stack.pop()
                key = stack.pop()
                walked += key[0]
                predictable += key[3] != _STR
                _check_costs(walked, predictable)
                _put_into(stack[-1], (key, value))
            elif op == 0x74:    # TUPLE
                items = stack
                stack = metastack.pop()
                stack.append(_new(items))
            elif op in (0x85, 0x86, 0x87):   # TUPLE1, TUPLE2, TUPLE3
                k = op - 0x84
                if len(stack) < k:
                    raise IndexError
                items = stack[-k:]
                del stack[-k:]
                stack.append(_new(items))
            elif op in (0x5D, 0x7D, 0x8F):     # EMPTY_LIST, EMPTY_DICT, EMPTY_SET
                stack.append({0: 1, 1: 0, 2: 0, 3: _OBJ})
            elif op == 0x52:    # REDUCE: func(*args), func a global
                args = stack.pop()
                func = stack[-1]
                walked += args[0]
                if func[3] == _HASHER:
                    predictable += args[0]
                elif func[3] != _GLOBAL:   # torch would refuse it too, after printing it whole
                    raise PickleRefused("its pickle calls something that is not a global")
                _check_costs(walked, predictable)
                stack[-1] = _new((args,))
            elif op == 0x81:    # NEWOBJ: cls.__new__(cls, *args)
                args = stack.pop()
                if stack.pop()[3] not in (_GLOBAL, _HASHER):
                    raise PickleRefused("its pickle makes an object of something that is not a global")
                walked += args[0]
                _check_costs(walked, predictable)
                stack.append(_new((args,)))
            elif op == 0x62:    # BUILD: inst.__setstate__(state) or inst.__dict__.update(state)
                state = stack.pop()
                walked += state[0]
                predictable += state[0]
                _check_costs(walked, predictable)
                _put_into(stack[-1], (state,))
            elif op == 0x51:    # BINPERSID: a storage, looked up by its id (hashed, and printed into a name)
                pid = stack.pop()
                walked += pid[0]
                _check_costs(walked, predictable)
                stack.append(_new((pid,)))
            elif op == 0x63:    # GLOBAL: module and name, a line each
                end = data.find(b"\n", pos, pos + MAX_NAME + 1)
                end2 = data.find(b"\n", end + 1, end + MAX_NAME + 2) if end >= 0 else -1
                if end2 < 0:    # a long name would be quoted whole in torch's error message
                    raise PickleRefused(f"its pickle has a GLOBAL that is not two lines of at most {MAX_NAME} bytes")
                name = data[end + 1:end2]
                pos = end2 + 1
                if name == b"bytearray":
                    raise PickleRefused("it calls bytearray, which can allocate gigabytes from a few bytes")
                stack.append({0: 1, 1: 0, 2: 1, 3: _HASHER if name in _HASHERS else _GLOBAL})
            elif op == 0x72:    # LONG_BINPUT
                memo[_U32(data, pos)[0]] = stack[-1]
                pos += 4
                if len(memo) > MAX_MEMO:
                    raise PickleRefused(f"its pickle keeps more than {MAX_MEMO:,} objects in its memo")
            elif op == 0x6A:    # LONG_BINGET
                stack.append(memo[_U32(data, pos)[0]])
                pos += 4
            elif op in (0x55, 0x8A):   # SHORT_BINSTRING (a str: torch decodes it), LONG1: a length byte, the bytes
                pos += 1 + data[pos]
                if pos > n:
                    raise IndexError
                stack.append(text if op == 0x55 else num)
            elif op == 0x80:    # PROTO
                pos += 1
            elif op == 0x2E:    # STOP: torch returns the top of the stack
                root = stack.pop()
                break
            else:
                raise PickleUnreadable(f"its pickle has opcode 0x{op:02x} at byte {pos - 1}, "
                                    "which torch's weights-only loader does not read")
    except (IndexError, KeyError, struct.error):   # torch fails the same way: EOF, empty stack, unknown memo key
        if pos >= n > MAX_PICKLE_BYTES:   # only the legacy format's pickles are read cut at the limit
            raise PickleRefused(f"its pickles take more than the {MAX_PICKLE_BYTES // 2**20} MB "
                                "a checkpoint's pickles may take") from None
        raise PickleUnreadable(f"its pickle is truncated or malformed (at byte {min(pos, n)})") from None
    stats.update(opcodes=steps + extra, steps=steps, walked=walked, predictable=predictable, marks=marks,
                 memo=max(stats["memo"], len(memo)), expanded=max(stats["expanded"], root[0]),
                 depth=max(stats["depth"], root[1]))
    return pos


def _run_length(data: bytes, pos: int, op: int, width: int) -> int:
    """How many times op repeats from pos, each time with width - 1 bytes of argument; in C, by strided slices."""
    k, chunk, opcode = 0, 16, bytes([op])
    while True:   # chunks double, so a run costs its length, and a lone opcode little
        part = data[pos + k * width:pos + (k + chunk) * width:width]
        same = len(part) - len(part.lstrip(opcode))
        k += same
        if same < chunk:
            return k
        chunk *= 2


def _check_costs(walked: int, predictable: int) -> None:
    if walked > MAX_WALKED:
        raise PickleRefused(f"loading it would walk more than {MAX_WALKED:,} values "
                            "(shared references hashed or passed over and over)")
    if predictable > MAX_PREDICTABLE:
        raise PickleRefused(f"loading it would hash more than {MAX_PREDICTABLE:,} values whose hashes "
                            "are predictable (numbers, tuples): open to hash collisions")


def _new(items) -> dict:
    """The record of a new object made from items (a tuple; a call's result from its arguments)."""
    rec = {0: 1, 1: 0, 2: 0, 3: _OBJ}
    _put_into(rec, items)
    return rec


def _put_into(target: dict, items) -> None:
    """Account for items placed into target (append, setitem, build); refuse changing a placed object."""
    if items.count(_NUM) == len(items):   # a batch of numbers, as a history list is written: at C speed
        target[0] += len(items)
        depth = 1
    else:
        for r in items:
            r[2] = 1
        target[0] += sum(map(_SIZE, items))
        depth = 1 + max(map(_DEPTH, items))
    if target[2]:   # checked after marking the items: a list appended to itself is caught too
        # Pickles write each object whole before placing it: changing one already placed makes a cycle,
        # or would leave the sizes counted for the objects holding it too small.
        raise PickleRefused("its pickle changes an object after placing it in another (a cycle, or not a container)")
    target[1] = max(target[1], depth)
    _check(target)


def _check(rec: dict) -> None:
    if rec[1] > MAX_DEPTH:
        raise PickleRefused(f"its objects nest more than {MAX_DEPTH} levels deep")
    if rec[0] > MAX_EXPANDED:
        raise PickleRefused(f"an object in it stands for more than {MAX_EXPANDED:,} values once shared references "
                            "are expanded (a hash bomb)")
