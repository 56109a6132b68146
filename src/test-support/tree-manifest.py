#!/usr/bin/env python3
"""A manifest of a file tree, and a comparison of two trees, that share no code with holdfast.

Tests of export and import prove that a restored tree equals its source by running this script
on both: it reads every entry with the standard library only (lstat, readlink, xattrs, SEEK_DATA
and SEEK_HOLE, sha256), never through holdfast's TypeScript.

Usage:
  tree-manifest.py ROOT
      Prints the JSON manifest of every entry below ROOT (not ROOT itself).
  tree-manifest.py --compare [--allow-map-difference] A B
      Prints one line per difference, "PATH: FIELD: A-value != B-value", and exits 1 when there
      is any, 0 when there is none. A and B are each a directory (read now) or a manifest file
      this script printed earlier. Exit 2 on a usage or reading error.

Paths. A path is the relative path's bytes, escaped into ASCII so that it survives JSON, a
terminal and a "PATH: FIELD:" line: bytes 0x20..0x7e stand for themselves, except backslash,
written "\\\\", and colon, written "\\x3a"; every other byte is "\\xHH" (lower-case hex). The
escape is a bijection, so two paths are equal exactly when their escapes are.

Manifest: {"format": "holdfast-tree-manifest-1", "entries": {PATH: ENTRY, ...}}, the entries in
the order of their paths' bytes. Every ENTRY has:
  type        "file", "directory", "symlink", "fifo", "socket", "char" or "block"
  mode        st_mode & 0o7777, a number
  uid, gid    numbers
  mtime_ns    st_mtime_ns as a decimal string (JavaScript numbers lose nanoseconds); atime is
              left out because reading a file changes it, ctime because no tool can set it
  xattrs      {NAME: VALUE in hex}, every name of every namespace, read without following
              symlinks: user.*, trusted.*, security.* (security.capability included) and
              system.posix_acl_access / system.posix_acl_default, which carry ACLs in binary
  link_group  (all but directories) the smallest PATH among the entries below ROOT that share
              this entry's (st_dev, st_ino); an entry that is its only name has its own PATH
and by type:
  file        size; data_map, the [offset, length] data extents that SEEK_DATA/SEEK_HOLE report
              (the whole file as one extent where the file system cannot seek holes);
              allocated_bytes, st_blocks * 512; sha256, the hex sha256 over each data extent in
              order as its offset and length (unsigned 64-bit little-endian) followed by its bytes,
              so it covers the data map too and reads only the data of a sparse file;
              content_sha256, the same over every 4 KiB-aligned block of the file's logical
              content that is not all zeros, which does not depend on how a file system
              allocates (it is what --allow-map-difference compares)
  symlink     target, the link's bytes in hex
  char, block rdev_major, rdev_minor

Comparison. Every field above is compared exactly, except:
  allocated_bytes  B differs only when B's exceeds max(A's, each data extent rounded up to 4 KiB,
                   summed) + 64 KiB: holes must stay holes, but file systems may round and
                   preallocate differently.
  data_map, sha256 compared by default, so a hole filled with zeros is a difference. With
                   --allow-map-difference (for a target file system that allocates differently)
                   both are skipped and content_sha256 is compared instead; a filled hole then
                   shows only when it breaks the allocated_bytes bound.
An entry in one tree only is "PATH: entry: present != missing"; an entry whose type differs
reports the type alone. Modes print in octal, ACL xattrs in getfacl's short text form.

Reading: directories are walked with file descriptors (open and stat relative to the directory's
descriptor), so no absolute path longer than PATH_MAX is ever formed; only xattrs, which have no
*at() calls in Python, are read by name after fchdir() into the directory. Symlinks are never
followed, and only regular files and directories are ever opened (a FIFO would block).
"""

import hashlib
import json
import os
import stat
import struct
import sys

MANIFEST_FORMAT = "holdfast-tree-manifest-1"
READ_CHUNK_BYTES = 1024 * 1024
CONTENT_BLOCK_BYTES = 4096
ALLOCATION_SLACK_BYTES = 64 * 1024
STAT_BLOCK_BYTES = 512
# No tree a test builds is this deep; a cycle (a bind mount, say) fails instead of running away.
DEPTH_MAX = 1000
ZERO_BLOCK = bytes(CONTENT_BLOCK_BYTES)

TYPE_NAMES = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
)


class ManifestError(Exception):
    """A tree or manifest that cannot be read; the message names the path."""


def escape_path(path: bytes) -> str:
    """The ASCII escape of a path's bytes described in the module comment."""
    parts = []
    for byte in path:
        if byte == 0x5C:
            parts.append("\\\\")
        elif 0x20 <= byte <= 0x7E and byte != 0x3A:
            parts.append(chr(byte))
        else:
            parts.append("\\x%02x" % byte)
    return "".join(parts)


def type_name(mode: int) -> str:
    for test, name in TYPE_NAMES:
        if test(mode):
            return name
    raise ManifestError("unknown file type in mode 0o%o" % mode)


# ------------------------------------------------------------------------------------------------
# Reading a tree


def data_extents(descriptor: int, size: int) -> list:
    """The [offset, length] data extents of an open file, walked with SEEK_DATA and SEEK_HOLE."""
    extents = []
    offset = 0
    while offset < size:
        try:
            data_start = os.lseek(descriptor, offset, os.SEEK_DATA)
        except OSError as error:
            if error.errno == 6:  # ENXIO: no data at or after offset
                break
            if error.errno in (22, 95) and offset == 0:  # EINVAL, EOPNOTSUPP: cannot seek holes
                return [[0, size]]
            raise
        hole_start = os.lseek(descriptor, data_start, os.SEEK_HOLE)
        if hole_start <= data_start:
            raise ManifestError("SEEK_HOLE does not advance past %d" % data_start)
        extents.append([data_start, hole_start - data_start])
        offset = hole_start
    return extents


def read_range(descriptor: int, start: int, end: int):
    """Yields the bytes of [start, end) in chunks; a file that shrinks is an error."""
    offset = start
    while offset < end:
        chunk = os.pread(descriptor, min(READ_CHUNK_BYTES, end - offset), offset)
        if not chunk:
            raise ManifestError("file ended at %d while reading to %d" % (offset, end))
        yield offset, chunk
        offset += len(chunk)


def content_blocks(extents: list, size: int) -> list:
    """The 4 KiB-aligned [start, end) ranges that cover the data extents, merged."""
    ranges = []
    for offset, length in extents:
        start = offset - offset % CONTENT_BLOCK_BYTES
        end = min(size, -(-(offset + length) // CONTENT_BLOCK_BYTES) * CONTENT_BLOCK_BYTES)
        if ranges and ranges[-1][1] >= start:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    return ranges


def file_fields(descriptor: int, size: int) -> dict:
    extents = data_extents(descriptor, size)
    exact = hashlib.sha256()
    for offset, length in extents:
        exact.update(struct.pack("<QQ", offset, length))
        for _, chunk in read_range(descriptor, offset, offset + length):
            exact.update(chunk)
    # Blocks outside every data extent read as zeros, so skipping them skips only zero blocks.
    content = hashlib.sha256()
    for start, end in content_blocks(extents, size):
        for chunk_offset, chunk in read_range(descriptor, start, end):
            for index in range(0, len(chunk), CONTENT_BLOCK_BYTES):
                block = chunk[index:index + CONTENT_BLOCK_BYTES]
                if block != ZERO_BLOCK[:len(block)]:
                    content.update(struct.pack("<QQ", chunk_offset + index, len(block)))
                    content.update(block)
    return {"data_map": extents, "sha256": exact.hexdigest(), "content_sha256": content.hexdigest()}


def open_file(name: bytes, directory: int) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        return os.open(name, flags | os.O_NOATIME, dir_fd=directory)
    except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
        return os.open(name, flags, dir_fd=directory)


def read_xattrs(name: bytes, directory: int) -> dict:
    os.fchdir(directory)
    values = {}
    for attribute in sorted(os.listxattr(name, follow_symlinks=False)):
        value = os.getxattr(name, attribute, follow_symlinks=False)
        values[escape_path(os.fsencode(attribute))] = value.hex()
    return values


def read_entry(name: bytes, directory: int, status: os.stat_result) -> dict:
    kind = type_name(status.st_mode)
    entry = {
        "type": kind,
        "mode": stat.S_IMODE(status.st_mode),
        "uid": status.st_uid,
        "gid": status.st_gid,
        "mtime_ns": str(status.st_mtime_ns),
        "xattrs": read_xattrs(name, directory),
    }
    if kind == "file":
        descriptor = open_file(name, directory)
        try:
            opened = os.fstat(descriptor)
            if (opened.st_dev, opened.st_ino) != (status.st_dev, status.st_ino):
                raise ManifestError("it changed while being read")
            entry["size"] = opened.st_size
            entry["allocated_bytes"] = opened.st_blocks * STAT_BLOCK_BYTES
            entry.update(file_fields(descriptor, opened.st_size))
        finally:
            os.close(descriptor)
    elif kind == "symlink":
        entry["target"] = os.readlink(name, dir_fd=directory).hex()
    elif kind in ("char", "block"):
        entry["rdev_major"] = os.major(status.st_rdev)
        entry["rdev_minor"] = os.minor(status.st_rdev)
    return entry


def walk(directory: int, prefix: bytes, depth: int, entries: dict, inodes: dict) -> None:
    """Adds every entry below the open directory to entries, in the order of their bytes."""
    if depth > DEPTH_MAX:
        raise ManifestError("%s: deeper than %d directories" % (escape_path(prefix), DEPTH_MAX))
    for name in sorted(os.fsencode(name) for name in os.listdir(directory)):
        path = prefix + name
        try:
            status = os.stat(name, dir_fd=directory, follow_symlinks=False)
            entry = read_entry(name, directory, status)
        except (OSError, ManifestError) as error:
            raise ManifestError("Cannot read %s: %s" % (escape_path(path), error)) from error
        escaped = escape_path(path)
        entries[escaped] = entry
        if entry["type"] == "directory":
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            child = os.open(name, flags, dir_fd=directory)
            try:
                walk(child, path + b"/", depth + 1, entries, inodes)
            finally:
                os.close(child)
        else:
            inodes.setdefault((status.st_dev, status.st_ino), []).append((path, escaped))


def manifest_of_tree(root: str) -> dict:
    entries = {}
    inodes = {}
    original_directory = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            walk(directory, b"", 0, entries, inodes)
        finally:
            os.close(directory)
    finally:
        os.fchdir(original_directory)
        os.close(original_directory)
    for names in inodes.values():
        group = min(names)[1]
        for _, escaped in names:
            entries[escaped]["link_group"] = group
    return {"format": MANIFEST_FORMAT, "entries": entries}


def load_manifest(argument: str) -> dict:
    if os.path.isdir(argument):
        return manifest_of_tree(argument)
    with open(argument, "rb") as file:
        manifest = json.load(file)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError("%s is neither a directory nor a %s file" % (argument, MANIFEST_FORMAT))
    return manifest


# ------------------------------------------------------------------------------------------------
# Comparing two manifests

ACL_TAGS = {1: "user::", 2: "user:%d:", 4: "group::", 8: "group:%d:", 0x10: "mask::", 0x20: "other::"}


def acl_text(value_hex: str) -> str:
    """A POSIX ACL xattr (version 2) in getfacl's short form, or its hex when it is not one."""
    value = bytes.fromhex(value_hex)
    if len(value) < 4 or (len(value) - 4) % 8 != 0 or struct.unpack_from("<I", value)[0] != 2:
        return value_hex
    parts = []
    for offset in range(4, len(value), 8):
        tag, permissions, identifier = struct.unpack_from("<HHI", value, offset)
        label = ACL_TAGS.get(tag, "tag%d::" % tag)
        label = label % identifier if "%d" in label else label
        letters = "".join(letter if permissions & bit else "-" for letter, bit in (("r", 4), ("w", 2), ("x", 1)))
        parts.append(label + letters)
    return "acl " + ",".join(parts)


def shown(field: str, value) -> str:
    if value is None:
        return "absent"
    if field == "mode":
        return "0o%o" % value
    if field.startswith("xattr system.posix_acl_"):
        return acl_text(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def allocation_bound(a: dict) -> int:
    rounded = sum(-(-length // CONTENT_BLOCK_BYTES) * CONTENT_BLOCK_BYTES for _, length in a.get("data_map", []))
    return max(a.get("allocated_bytes", 0), rounded) + ALLOCATION_SLACK_BYTES


def compare_entries(path: str, a: dict, b: dict, allow_map_difference: bool) -> list:
    if a["type"] != b["type"]:
        return ["%s: type: %s != %s" % (path, a["type"], b["type"])]
    fields = ["mode", "uid", "gid", "mtime_ns", "link_group", "size", "target", "rdev_major", "rdev_minor"]
    if a["type"] == "file":
        fields += ["content_sha256"] if allow_map_difference else ["data_map", "sha256"]
    differences = []
    for field in fields:
        if a.get(field) != b.get(field):
            differences.append("%s: %s: %s != %s" % (path, field, shown(field, a.get(field)), shown(field, b.get(field))))
    if a["type"] == "file" and b.get("allocated_bytes", 0) > allocation_bound(a):
        differences.append("%s: allocated_bytes: %d != %d (more than %d)" % (path, a["allocated_bytes"], b["allocated_bytes"], allocation_bound(a)))
    xattrs_a, xattrs_b = a.get("xattrs", {}), b.get("xattrs", {})
    for name in sorted(set(xattrs_a) | set(xattrs_b)):
        field = "xattr " + name
        if xattrs_a.get(name) != xattrs_b.get(name):
            differences.append("%s: %s: %s != %s" % (path, field, shown(field, xattrs_a.get(name)), shown(field, xattrs_b.get(name))))
    return differences


def compare_manifests(a: dict, b: dict, allow_map_difference: bool) -> list:
    entries_a, entries_b = a["entries"], b["entries"]
    differences = []
    for path in sorted(set(entries_a) | set(entries_b), key=lambda escaped: escaped.encode("ascii")):
        if path not in entries_b:
            differences.append("%s: entry: present != missing" % path)
        elif path not in entries_a:
            differences.append("%s: entry: missing != present" % path)
        else:
            differences.extend(compare_entries(path, entries_a[path], entries_b[path], allow_map_difference))
    return differences


# ------------------------------------------------------------------------------------------------


def main(arguments: list) -> int:
    usage = "usage: tree-manifest.py ROOT | tree-manifest.py --compare [--allow-map-difference] A B"
    try:
        if arguments[:1] == ["--compare"]:
            options = [argument for argument in arguments[1:] if argument.startswith("--")]
            operands = [argument for argument in arguments[1:] if not argument.startswith("--")]
            if len(operands) != 2 or any(option != "--allow-map-difference" for option in options):
                print(usage, file=sys.stderr)
                return 2
            manifests = [load_manifest(operand) for operand in operands]
            differences = compare_manifests(manifests[0], manifests[1], bool(options))
            for line in differences:
                sys.stdout.write(line + "\n")
            return 1 if differences else 0
        if len(arguments) != 1 or arguments[0].startswith("--"):
            print(usage, file=sys.stderr)
            return 2
        json.dump(manifest_of_tree(arguments[0]), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    except (OSError, ManifestError, ValueError) as error:
        print("tree-manifest.py: %s" % error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
