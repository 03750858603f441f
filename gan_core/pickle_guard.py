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

import pickle   # its opcode constants only: nothing here unpickles
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
    w = _Walk(stats)
    ops, n = _OPS, len(data)
    steps = stats["steps"]
    extra = stats["opcodes"] - steps   # opcodes = steps + what runs of numbers held beyond their first
    try:
        while True:
            op = data[pos]
            steps += 1
            if steps > MAX_STEPS:
                raise PickleRefused(f"its pickle has more than {MAX_STEPS:,} opcodes besides runs of numbers")
            if op in _SCALARS:   # numbers, None, bools, (): a run of the same one is counted at C speed
                width = _SCALARS[op]
                k = _run_length(data, pos, op, width)
                pos += k * width
                if pos > n:
                    raise IndexError
                extra += k - 1
                if steps + extra > MAX_OPCODES:
                    raise PickleRefused(f"its pickle has more than {MAX_OPCODES:,} opcodes")
                w.stack += [_NUM] * k
            elif op == 0x2E:     # STOP: torch returns the top of the stack
                pos += 1
                root = w.stack.pop()
                break
            else:
                # pos first, so that an error in the handler is placed at the opcode's argument. A handler whose
                # argument the end of data cuts short returns a position past the end, which the next read refuses.
                pos += 1
                pos = ops[op](w, data, pos)
    except (IndexError, KeyError, struct.error):   # torch fails the same way: EOF, empty stack, unknown memo key
        if pos >= n > MAX_PICKLE_BYTES:   # only the legacy format's pickles are read cut at the limit
            raise PickleRefused(f"its pickles take more than the {MAX_PICKLE_BYTES // 2**20} MB "
                                "a checkpoint's pickles may take") from None
        raise PickleUnreadable(f"its pickle is truncated or malformed (at byte {min(pos, n)})") from None
    stats.update(opcodes=steps + extra, steps=steps, walked=w.walked, predictable=w.predictable, marks=w.marks,
                 memo=max(stats["memo"], len(w.memo)), expanded=max(stats["expanded"], root[0]),
                 depth=max(stats["depth"], root[1]))
    return pos


class _Walk:
    """What torch's unpickler holds during one pickle (its stack, MARK stack and memo), as records, and the costs.

    Each op_ method runs an opcode as that unpickler does, on records rather than objects: it takes the position
    after the opcode and returns the one after its argument. _OPS maps opcodes to them.
    """
    __slots__ = ("stack", "metastack", "memo", "walked", "predictable", "marks")

    def __init__(self, stats: dict[str, int]):
        self.stack: list[dict] = []
        self.metastack: list[list[dict]] = []   # the stacks set aside by MARKs still open
        self.memo: dict[int, dict] = {}
        # Costs run on across the legacy format's pickles; opcodes and steps are counted in _walk's loop.
        self.walked, self.predictable, self.marks = stats["walked"], stats["predictable"], stats["marks"]

    def spend(self, walked: int, predictable: int) -> None:
        """Count values the unpickler walks, and those of them it hashes with predictable hashes."""
        self.walked += walked
        self.predictable += predictable
        if self.walked > MAX_WALKED:
            raise PickleRefused(f"loading it would walk more than {MAX_WALKED:,} values "
                                "(shared references hashed or passed over and over)")
        if self.predictable > MAX_PREDICTABLE:
            raise PickleRefused(f"loading it would hash more than {MAX_PREDICTABLE:,} values whose hashes "
                                "are predictable (numbers, tuples): open to hash collisions")

    def pop_mark(self) -> list[dict]:
        """The items pushed since the last MARK, the stack before it made current again."""
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def memoise(self, key: int) -> None:
        self.memo[key] = self.stack[-1]
        if len(self.memo) > MAX_MEMO:
            raise PickleRefused(f"its pickle keeps more than {MAX_MEMO:,} objects in its memo")

    # ---- the memo, strings, MARK ----

    def op_binput(self, data: bytes, pos: int) -> int:
        self.memoise(data[pos])
        return pos + 1

    def op_long_binput(self, data: bytes, pos: int) -> int:
        self.memoise(_U32(data, pos)[0])
        return pos + 4

    def op_binget(self, data: bytes, pos: int) -> int:
        self.stack.append(self.memo[data[pos]])
        return pos + 1

    def op_long_binget(self, data: bytes, pos: int) -> int:
        self.stack.append(self.memo[_U32(data, pos)[0]])
        return pos + 4

    def op_binunicode(self, data: bytes, pos: int) -> int:
        size = _U32(data, pos)[0]
        # A long string costs its length to print, wherever it is referred to.
        self.stack.append(_TEXT if size < 16 else {0: 1 + size // 16, 1: 0, 2: 1, 3: _STR})
        return pos + 4 + size

    def op_short_binstring(self, data: bytes, pos: int) -> int:   # a str (torch decodes it): length byte, bytes
        end = pos + 1 + data[pos]
        self.stack.append(_TEXT)
        return end

    def op_long1(self, data: bytes, pos: int) -> int:   # an int: length byte, bytes
        end = pos + 1 + data[pos]
        self.stack.append(_NUM)
        return end

    def op_mark(self, data: bytes, pos: int) -> int:
        self.metastack.append(self.stack)
        self.stack = []
        if len(self.metastack) > self.marks:
            self.marks = len(self.metastack)
            if self.marks > MAX_DEPTH:
                raise PickleRefused(f"its pickle nests more than {MAX_DEPTH} MARKs")
        return pos

    # ---- filling containers ----

    def op_appends(self, data: bytes, pos: int) -> int:
        items = self.pop_mark()
        _put_into(self.stack[-1], items)
        return pos

    def op_setitems(self, data: bytes, pos: int) -> int:   # keys are hashed
        items = self.pop_mark()
        if len(items) % 2:
            raise IndexError
        keys = items[::2]
        self.spend(sum(map(_SIZE, keys)), len(keys) - list(map(_KIND, keys)).count(_STR))
        _put_into(self.stack[-1], items)
        return pos

    def op_append(self, data: bytes, pos: int) -> int:
        item = self.stack.pop()
        _put_into(self.stack[-1], (item,))
        return pos

    def op_setitem(self, data: bytes, pos: int) -> int:
        value = self.stack.pop()
        key = self.stack.pop()
        self.spend(key[0], key[3] != _STR)
        _put_into(self.stack[-1], (key, value))
        return pos

    # ---- making objects ----

    def op_tuple(self, data: bytes, pos: int) -> int:
        items = self.pop_mark()
        self.stack.append(_new(items))
        return pos

    def op_tuple_n(self, data: bytes, pos: int) -> int:   # TUPLE1, TUPLE2, TUPLE3
        k = data[pos - 1] - 0x84
        stack = self.stack
        if len(stack) < k:
            raise IndexError
        items = stack[-k:]
        del stack[-k:]
        stack.append(_new(items))
        return pos

    def op_empty(self, data: bytes, pos: int) -> int:   # EMPTY_LIST, EMPTY_DICT, EMPTY_SET
        self.stack.append({0: 1, 1: 0, 2: 0, 3: _OBJ})
        return pos

    def op_global(self, data: bytes, pos: int) -> int:   # module and name, a line each
        end = data.find(b"\n", pos, pos + MAX_NAME + 1)
        end2 = data.find(b"\n", end + 1, end + MAX_NAME + 2) if end >= 0 else -1
        if end2 < 0:    # a long name would be quoted whole in torch's error message
            raise PickleRefused(f"its pickle has a GLOBAL that is not two lines of at most {MAX_NAME} bytes")
        name = data[end + 1:end2]
        if name == b"bytearray":
            raise PickleRefused("it calls bytearray, which can allocate gigabytes from a few bytes")
        self.stack.append({0: 1, 1: 0, 2: 1, 3: _HASHER if name in _HASHERS else _GLOBAL})
        return end2 + 1

    def op_reduce(self, data: bytes, pos: int) -> int:   # func(*args), func a global
        args = self.stack.pop()
        kind = self.stack[-1][3]
        if kind not in (_GLOBAL, _HASHER):   # torch would refuse it too, after printing it whole
            raise PickleRefused("its pickle calls something that is not a global")
        self.spend(args[0], args[0] if kind == _HASHER else 0)
        self.stack[-1] = _new((args,))
        return pos

    def op_newobj(self, data: bytes, pos: int) -> int:   # cls.__new__(cls, *args)
        args = self.stack.pop()
        if self.stack.pop()[3] not in (_GLOBAL, _HASHER):
            raise PickleRefused("its pickle makes an object of something that is not a global")
        self.spend(args[0], 0)
        self.stack.append(_new((args,)))
        return pos

    def op_build(self, data: bytes, pos: int) -> int:   # inst.__setstate__(state) or inst.__dict__.update(state)
        state = self.stack.pop()
        self.spend(state[0], state[0])
        _put_into(self.stack[-1], (state,))
        return pos

    def op_binpersid(self, data: bytes, pos: int) -> int:   # a storage, looked up by its id (hashed, and printed)
        pid = self.stack.pop()
        self.spend(pid[0], 0)
        self.stack.append(_new((pid,)))
        return pos

    def op_proto(self, data: bytes, pos: int) -> int:
        return pos + 1

    def op_unknown(self, data: bytes, pos: int) -> int:
        raise PickleUnreadable(f"its pickle has opcode 0x{data[pos - 1]:02x} at byte {pos - 1}, "
                               "which torch's weights-only loader does not read")


# The opcodes torch's weights-only unpickler reads, besides runs of numbers and STOP, which _walk takes itself;
# any other is refused, as torch refuses it.
_HANDLERS = {
    pickle.BINPUT: _Walk.op_binput, pickle.LONG_BINPUT: _Walk.op_long_binput,
    pickle.BINGET: _Walk.op_binget, pickle.LONG_BINGET: _Walk.op_long_binget,
    pickle.BINUNICODE: _Walk.op_binunicode, pickle.SHORT_BINSTRING: _Walk.op_short_binstring,
    pickle.LONG1: _Walk.op_long1, pickle.MARK: _Walk.op_mark,
    pickle.APPENDS: _Walk.op_appends, pickle.SETITEMS: _Walk.op_setitems,
    pickle.APPEND: _Walk.op_append, pickle.SETITEM: _Walk.op_setitem,
    pickle.TUPLE: _Walk.op_tuple, pickle.TUPLE1: _Walk.op_tuple_n, pickle.TUPLE2: _Walk.op_tuple_n,
    pickle.TUPLE3: _Walk.op_tuple_n, pickle.EMPTY_LIST: _Walk.op_empty, pickle.EMPTY_DICT: _Walk.op_empty,
    pickle.EMPTY_SET: _Walk.op_empty, pickle.GLOBAL: _Walk.op_global, pickle.REDUCE: _Walk.op_reduce,
    pickle.NEWOBJ: _Walk.op_newobj, pickle.BUILD: _Walk.op_build, pickle.BINPERSID: _Walk.op_binpersid,
    pickle.PROTO: _Walk.op_proto,
}
_OPS = [_HANDLERS.get(bytes([op]), _Walk.op_unknown) for op in range(256)]   # indexed by opcode


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
