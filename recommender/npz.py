"""Uncompressed .npz files whose arrays are used in place, memory-mapped, instead of read into memory.

Why: with `python -m service --workers N` every worker loads the same model. Views into one
mapping of the file put the factor arrays in the page cache once, shared by every process,
instead of N private copies.

The writer stores members uncompressed (as np.savez does) and pads each member's zip local
header with an extra field (id 0xD935, as Android's zipalign does) so that, with the 64-byte
aligned .npy header, every array's data starts on a 64-byte boundary of the file: views need no
copy and are aligned for BLAS. The files stay ordinary .npz files that np.load reads. Formats
followed: the .npy format (NumPy NEP 1, versions 1.0 and 2.0) inside a zip archive (PKWARE's
APPNOTE.TXT: local file header, extra field), padded the way Android's zipalign pads.

The reader maps the file once, copy-on-write (MAP_PRIVATE): arrays are read-only views unless
asked for as `writable`, and even then a write only copies the page it touches into the writing
process; the file never changes. Members it cannot view in place (compressed, or misaligned as in
files written by np.savez) are read into memory instead, so any .npz without objects loads.
Artifacts are replaced by rename, never rewritten in place, so a mapped file never shrinks
under its readers (that would be SIGBUS).
"""

from __future__ import annotations

import mmap
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

ALIGN = 64
_PADDING_ID = 0xD935
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # the fixed 30 bytes of a zip local file header
_LOCAL_SIGNATURE = b"PK\x03\x04"
_ZIP64_EXTRA = 20  # what zipfile appends to a local header written with force_zip64
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def write_npz(handle: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` to the seekable `handle` as an uncompressed .npz with 64-byte aligned data.

    Parameters
    ----------
    handle : binary file
        Open for writing and seekable (`tell` gives the member's position); not closed here.
    arrays : mapping of str to numpy.ndarray
        Member name (without ".npy") to array, any dtype without Python objects, any shape.

    Raises
    ------
    ValueError
        An array holds Python objects (pickles are never written).
    """
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            header_end = (handle.tell() + _LOCAL_HEADER.size + len(info.filename.encode())
                          + _ZIP64_EXTRA + 4)
            padding = -header_end % ALIGN
            info.extra = struct.pack("<HH", _PADDING_ID, padding) + bytes(padding)
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


@dataclass(frozen=True)
class Member:
    """Where one array lives in the file.

    Attributes
    ----------
    dtype : numpy.dtype
    shape : tuple of int
    fortran_order : bool
        Column-major data (as the .npy header says).
    offset : int or None
        Byte offset of the data in the file; None when it cannot be viewed in place (compressed,
        encrypted, or not aligned for its dtype).
    """

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int | None


class MappedNpz:
    """The arrays of one .npz file as views into a copy-on-write map of it.

    Parameters
    ----------
    path : str or Path
        The .npz file; it must not be rewritten in place while mapped (replace it by rename).

    Raises
    ------
    OSError
        The file cannot be opened or mapped.
    zipfile.BadZipFile
        It is not a zip archive.
    ValueError
        The file is empty (nothing to map), or a member is not a readable .npy array (unknown
        version, Python objects, shorter than its header says, a bad local header). Other errors
        of zipfile and numpy's header parser may come through too: callers that face untrusted
        bytes catch broadly.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
            with zipfile.ZipFile(handle) as archive:
                self._members = {info.filename.removesuffix(".npy"): self._locate(archive, info)
                                 for info in archive.infolist()}
                # members that cannot be viewed in place are read now, while the archive is open
                self._copies = {name: self._read(archive, name + ".npy")
                                for name, member in self._members.items() if member.offset is None}

    @property
    def names(self) -> list[str]:
        """Member names, without ".npy", in archive order."""
        return list(self._members)

    def array(self, name: str, writable: bool = False) -> np.ndarray:
        """A view of member `name`: read-only unless `writable`.

        Parameters
        ----------
        name : str
            A member name (`names`).
        writable : bool
            A write to a writable view copies the touched page into this process (every view of it
            in this process sees the write); the file never changes. A member read into memory is
            copied for a writable request, so its shared copy stays unchanged.

        Returns
        -------
        numpy.ndarray
            The member's dtype and shape.

        Raises
        ------
        KeyError
            No member has that name.
        """
        member = self._members[name]
        if member.offset is None:
            array = self._copies[name].copy() if writable else self._copies[name]
        else:
            count = int(np.prod(member.shape, dtype=np.int64))
            array = np.frombuffer(self._map, dtype=member.dtype, count=count, offset=member.offset)
            array = array.reshape(member.shape, order="F" if member.fortran_order else "C")
        array.flags.writeable = writable
        return array

    def _locate(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Member:
        with archive.open(info) as stream:  # checks the local header against the directory
            version = np.lib.format.read_magic(stream)
            reader = _HEADER_READERS.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy version {version} in {info.filename}")
            shape, fortran_order, dtype = reader(stream)
            header_size = stream.tell()
        if dtype.hasobject:
            raise ValueError(f"{info.filename} holds Python objects, which are never loaded")
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if header_size + nbytes > info.file_size:
            raise ValueError(f"{info.filename} is shorter than its header says")
        offset = None
        if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
            start = self._data_start(info) + header_size
            if start % max(dtype.alignment, 1) == 0 and start + nbytes <= len(self._map):
                offset = start
        return Member(dtype, tuple(shape), fortran_order, offset)

    def _data_start(self, info: zipfile.ZipInfo) -> int:
        """First byte of the member's data: after its local header, whose extra field may differ
        in length from the central directory's."""
        fields = _LOCAL_HEADER.unpack_from(self._map, info.header_offset)
        if fields[0] != _LOCAL_SIGNATURE:
            raise ValueError(f"bad local header for {info.filename}")
        name_length, extra_length = fields[-2], fields[-1]
        return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length

    @staticmethod
    def _read(archive: zipfile.ZipFile, filename: str) -> np.ndarray:
        with archive.open(filename) as stream:
            return np.lib.format.read_array(stream, allow_pickle=False)
