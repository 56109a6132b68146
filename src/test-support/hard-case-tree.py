#!/usr/bin/env python3
"""Builds a file tree of the hard cases an export and import must carry over, independently of
holdfast (standard library and setfacl only), so a round trip can be checked against it.

Usage: hard-case-tree.py [--with-socket] ROOT
  ROOT must be empty or missing. Needs root (mknod, chown, trusted.* and security.* xattrs) and a
  file system with user, trusted and security xattrs and POSIX ACLs (ext4). Prints a JSON summary:
  {"entries": COUNT, "data_bytes": BYTES, "skipped": [REASON, ...]}; a case the kernel refuses
  (security.holdfast-test under some LSMs) is skipped and named there, not fatal.
  mkfs.ext4 gives images below 512 MiB 1 KiB blocks, and ext4 keeps all of a file's xattrs in
  its inode and one block, so no value here is larger than 500 bytes.
  --with-socket adds special/socket, a unix socket; tar cannot carry sockets, so tests of tar
  build without it.

What is below ROOT (every path relative to it):
  files/size-NNNNNNN  sizes 0 .. 1048577 around 512, 4096, 65536 and 1 MiB, content from
                      shake_256 seeded with the name; files/text.txt, UTF-8 text
  sparse/gibibyte     1 GiB, data 64 KiB at 0, 1 MiB at 300 MiB, 4 KiB ending at 1 GiB (the file
                      ends in data); sparse/ends-in-hole 10 MiB, 128 KiB at 1 MiB and holes
                      before and after; sparse/only-hole, 5 MiB and no data
  xattrs/             user, trusted and security xattrs on the directory; xattrs/file has text,
                      binary (NUL, 0xff), empty, 500-byte, trusted and security values;
                      xattrs/capability carries security.capability v2 (cap_net_bind_service,
                      permitted and effective)
  acls/file           access ACL with named users and a named group
  acls/directory/     access and default ACL; inherited-file and inherited-directory created after
  links/first/original, links/second/name-two, links/third/name-three: one file, three names
  symlinks/           relative, absolute, dangling, loop-a <-> loop-b, self, to-directory,
                      long-target (about 1000 bytes), non-utf8-target, with-xattr (a trusted
                      xattr on the link itself) and owned (a link with an unmapped owner)
  special/            fifo, char device 1:3, block device 7:200, [socket]
  modes/              setuid 04755, setgid-directory 02755 (group 54322, its child inherits it),
                      sticky-directory 01777, no-permissions 0000, read-only-directory 0444
                      holding a file (its mode is set after the child exists)
  owners/             unmapped 54321:54322, unmapped-directory, root 0:0, nobody (when
                      /etc/passwd has it)
  times/              nanoseconds, before-1970 (-2000000000.123456789 s, 1906), after-2038
                      (4102444800.5 s, 2100), symlink-nanoseconds, directory-before-1970
  names/              non-UTF-8 name, a newline in a name, backslash, spaces and quotes, a
                      255-byte name, NFC and NFD spellings of "cafe" with an acute accent
  deep/               15 nested 250-byte directory names and a file: a relative path of 3900 bytes
Every entry gets a distinct nanosecond mtime, set last and children before their directory, so
creating contents does not move a directory's time afterwards.
"""

import errno
import hashlib
import json
import os
import pwd
import socket
import struct
import subprocess
import sys

MEBIBYTE = 1024 * 1024
GIBIBYTE = 1024 * MEBIBYTE
FILE_SIZES_BYTES = (0, 1, 511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537, 1048575, 1048576, 1048577)
UNMAPPED_UID = 54321
UNMAPPED_GID = 54322
DEEP_LEVELS = 15
DEEP_NAME_BYTES = 250
DEEP_RELATIVE_PATH_BYTES = 3900
NAME_BYTES_MAX = 255
# The first default mtime and the step between entries: both have a non-zero nanosecond part.
DEFAULT_MTIME_NS_START = 1_500_000_000_123_456_789
DEFAULT_MTIME_NS_STEP = 1_000_003_141

# struct vfs_cap_data, revision 2: magic_etc, then permitted and inheritable for capabilities
# 0..31 and 32..63, each a little-endian u32.
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001
CAP_NET_BIND_SERVICE = 10

EXPLICIT_MTIMES_NS = {
    b"times/nanoseconds": 1_700_000_000_123_456_789,
    b"times/before-1970": -2_000_000_000_123_456_789,
    b"times/after-2038": 4_102_444_800_500_000_000,
    b"times/symlink-nanoseconds": 1_234_567_890_987_654_321,
    b"times/directory-before-1970": -1_000_000_000_000_000_001,
}


def content(name: bytes, size: int) -> bytes:
    return hashlib.shake_256(b"holdfast-hard-case:" + name).digest(size) if size else b""


def write_all(descriptor: int, data: bytes, offset: int) -> None:
    written = 0
    while written < len(data):
        written += os.pwrite(descriptor, data[written:], offset + written)


class Builder:
    def __init__(self, root: bytes):
        self.root = root
        self.created = []
        self.data_bytes = 0
        self.skipped = []

    def path(self, relative: bytes) -> bytes:
        return os.path.join(self.root, relative)

    def directory(self, relative: bytes, mode: int = 0o755) -> None:
        os.mkdir(self.path(relative))
        os.chmod(self.path(relative), mode)
        self.created.append(relative)

    def file(self, relative: bytes, data: bytes, mode: int = 0o644) -> None:
        descriptor = os.open(self.path(relative), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_all(descriptor, data, 0)
            os.fchmod(descriptor, mode)
        finally:
            os.close(descriptor)
        self.created.append(relative)
        self.data_bytes += len(data)

    def sparse(self, relative: bytes, size: int, extents) -> None:
        descriptor = os.open(self.path(relative), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(descriptor, size)
            for offset, length in extents:
                write_all(descriptor, content(relative + b"@%d" % offset, length), offset)
                self.data_bytes += length
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self.created.append(relative)

    def symlink(self, relative: bytes, target: bytes) -> None:
        os.symlink(target, self.path(relative))
        self.created.append(relative)

    def xattr(self, relative: bytes, name: str, value: bytes) -> None:
        try:
            os.setxattr(self.path(relative), name, value, follow_symlinks=False)
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EACCES):
                raise
            self.skipped.append("%s on %s: %s" % (name, os.fsdecode(relative), os.strerror(error.errno)))

    def setfacl(self, relative: bytes, *arguments: str) -> None:
        subprocess.run(["setfacl", *arguments, os.fsdecode(self.path(relative))], check=True)


def build_files(builder: Builder) -> None:
    builder.directory(b"files")
    for size in FILE_SIZES_BYTES:
        name = b"files/size-%07d" % size
        builder.file(name, content(name, size))
    text = "".join("Line %d of a plain text file, with UTF-8: café, Grüße, 日本.\n" % line for line in range(100))
    builder.file(b"files/text.txt", text.encode("utf-8"))


def build_sparse(builder: Builder) -> None:
    builder.directory(b"sparse")
    builder.sparse(b"sparse/gibibyte", GIBIBYTE, ((0, 64 * 1024), (300 * MEBIBYTE, MEBIBYTE), (GIBIBYTE - 4096, 4096)))
    builder.sparse(b"sparse/ends-in-hole", 10 * MEBIBYTE, ((MEBIBYTE, 128 * 1024),))
    builder.sparse(b"sparse/only-hole", 5 * MEBIBYTE, ())


def capability_v2(capability: int) -> bytes:
    return struct.pack("<IIIII", VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, 1 << capability, 0, 0, 0)


def build_xattrs(builder: Builder) -> None:
    builder.directory(b"xattrs")
    builder.xattr(b"xattrs", "user.directory-note", b"a user xattr on a directory")
    builder.xattr(b"xattrs", "trusted.holdfast-directory", b"trusted\x00directory")
    builder.xattr(b"xattrs", "security.holdfast-test", b"security on a directory")
    builder.file(b"xattrs/file", b"a file with xattrs\n")
    builder.xattr(b"xattrs/file", "user.text", b"plain text value")
    builder.xattr(b"xattrs/file", "user.binary", b"\x00\xff\x00binary\xfe\xff\x00")
    builder.xattr(b"xattrs/file", "user.empty", b"")
    builder.xattr(b"xattrs/file", "user.large", content(b"user.large", 500))
    builder.xattr(b"xattrs/file", "trusted.holdfast", b"trusted \x00 value")
    builder.xattr(b"xattrs/file", "security.holdfast-test", b"security value")
    # chown() clears security.capability, so the owner and mode come first.
    builder.file(b"xattrs/capability", b"#!/bin/sh\nexit 0\n", 0o755)
    builder.xattr(b"xattrs/capability", "security.capability", capability_v2(CAP_NET_BIND_SERVICE))


def build_acls(builder: Builder) -> None:
    builder.directory(b"acls")
    builder.file(b"acls/file", b"a file with an access ACL\n", 0o640)
    builder.setfacl(b"acls/file", "-m", "u:%d:rw-,u:65534:r--,g:%d:r--" % (UNMAPPED_UID, UNMAPPED_GID))
    builder.directory(b"acls/directory", 0o750)
    builder.setfacl(b"acls/directory", "-m", "u:%d:rwx,g:%d:r-x" % (UNMAPPED_UID, UNMAPPED_GID))
    builder.setfacl(b"acls/directory", "-d", "-m", "u::rwx,g::r-x,o::---,u:%d:rwx,g:%d:r-x" % (UNMAPPED_UID, UNMAPPED_GID))
    # Created after the default ACL, so they inherit it (the open and mkdir modes are masked by it).
    descriptor = os.open(builder.path(b"acls/directory/inherited-file"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(descriptor)
    builder.created.append(b"acls/directory/inherited-file")
    os.mkdir(builder.path(b"acls/directory/inherited-directory"), 0o777)
    builder.created.append(b"acls/directory/inherited-directory")


def build_links(builder: Builder) -> None:
    builder.directory(b"links")
    for directory in (b"first", b"second", b"third"):
        builder.directory(b"links/" + directory)
    builder.file(b"links/first/original", content(b"links", 10_000))
    for name in (b"links/second/name-two", b"links/third/name-three"):
        os.link(builder.path(b"links/first/original"), builder.path(name))
        builder.created.append(name)


def build_symlinks(builder: Builder) -> None:
    builder.directory(b"symlinks")
    builder.symlink(b"symlinks/relative", b"../files/text.txt")
    builder.symlink(b"symlinks/absolute", b"/etc/passwd")
    builder.symlink(b"symlinks/dangling", b"no-such-entry")
    builder.symlink(b"symlinks/loop-a", b"loop-b")
    builder.symlink(b"symlinks/loop-b", b"loop-a")
    builder.symlink(b"symlinks/self", b"self")
    builder.symlink(b"symlinks/to-directory", b"../files")
    long_target = b"/".join(b"segment-%03d" % index for index in range(84))
    builder.symlink(b"symlinks/long-target", long_target[:1000])
    builder.symlink(b"symlinks/non-utf8-target", b"\xff\xfe-caf\xe9/\x80end")
    builder.symlink(b"symlinks/with-xattr", b"../xattrs/file")
    builder.xattr(b"symlinks/with-xattr", "trusted.holdfast-symlink", b"an xattr on the link itself")
    builder.symlink(b"symlinks/owned", b"../owners")
    os.lchown(builder.path(b"symlinks/owned"), UNMAPPED_UID, UNMAPPED_GID)


def build_special(builder: Builder, with_socket: bool) -> None:
    builder.directory(b"special")
    os.mkfifo(builder.path(b"special/fifo"), 0o640)
    os.chmod(builder.path(b"special/fifo"), 0o640)
    os.mknod(builder.path(b"special/char-1-3"), 0o666 | 0o020000, os.makedev(1, 3))
    os.chmod(builder.path(b"special/char-1-3"), 0o666)
    os.mknod(builder.path(b"special/block-7-200"), 0o660 | 0o060000, os.makedev(7, 200))
    os.chmod(builder.path(b"special/block-7-200"), 0o660)
    builder.created += [b"special/fifo", b"special/char-1-3", b"special/block-7-200"]
    if with_socket:
        # sun_path holds 108 bytes, so bind a name relative to the directory.
        original = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.chdir(builder.path(b"special"))
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind("socket")
            listener.close()
        finally:
            os.fchdir(original)
            os.close(original)
        os.chmod(builder.path(b"special/socket"), 0o755)
        builder.created.append(b"special/socket")


def build_modes(builder: Builder) -> None:
    builder.directory(b"modes")
    builder.file(b"modes/setuid", b"#!/bin/sh\n", 0o4755)
    builder.directory(b"modes/setgid-directory")
    os.chown(builder.path(b"modes/setgid-directory"), 0, UNMAPPED_GID)
    os.chmod(builder.path(b"modes/setgid-directory"), 0o2755)
    builder.file(b"modes/setgid-directory/inherits-group", b"group from the directory\n")
    builder.directory(b"modes/sticky-directory", 0o1777)
    builder.file(b"modes/sticky-directory/child", b"in a sticky directory\n")
    builder.file(b"modes/no-permissions", b"nobody may read this but root\n", 0o000)
    builder.directory(b"modes/read-only-directory")
    builder.file(b"modes/read-only-directory/inside", b"in a read-only directory\n")
    os.chmod(builder.path(b"modes/read-only-directory"), 0o444)


def build_owners(builder: Builder) -> None:
    builder.directory(b"owners")
    builder.file(b"owners/unmapped", b"owner with no passwd entry\n")
    os.chown(builder.path(b"owners/unmapped"), UNMAPPED_UID, UNMAPPED_GID)
    builder.directory(b"owners/unmapped-directory")
    os.chown(builder.path(b"owners/unmapped-directory"), UNMAPPED_UID, UNMAPPED_GID)
    builder.file(b"owners/root", b"owned by root\n")
    os.chown(builder.path(b"owners/root"), 0, 0)
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        builder.skipped.append("owners/nobody: /etc/passwd has no nobody")
        return
    builder.file(b"owners/nobody", b"owned by a user in /etc/passwd\n")
    os.chown(builder.path(b"owners/nobody"), nobody.pw_uid, nobody.pw_gid)


def build_times(builder: Builder) -> None:
    builder.directory(b"times")
    for name in (b"times/nanoseconds", b"times/before-1970", b"times/after-2038"):
        builder.file(name, name + b"\n")
    builder.symlink(b"times/symlink-nanoseconds", b"nanoseconds")
    builder.directory(b"times/directory-before-1970")
    builder.file(b"times/directory-before-1970/child", b"\n")


def build_names(builder: Builder) -> None:
    builder.directory(b"names")
    names = (
        b"\xff\xfe-latin1-caf\xe9",
        b"new\nline",
        b"back\\slash with spaces \"double\" 'single'",
        (b"long-name-" + b"x" * NAME_BYTES_MAX)[:NAME_BYTES_MAX],
        "caf\u00e9-nfc".encode("utf-8"),
        "cafe\u0301-nfd".encode("utf-8"),
    )
    for name in names:
        builder.file(b"names/" + name, b"name: " + name + b"\n")


def build_deep(builder: Builder) -> None:
    """Nested 250-byte names, made through directory descriptors: the path outgrows PATH_MAX."""
    builder.directory(b"deep")
    relative = b"deep"
    descriptor = os.open(builder.path(relative), os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(DEEP_LEVELS):
            name = (b"level-%02d-" % level + b"d" * DEEP_NAME_BYTES)[:DEEP_NAME_BYTES]
            os.mkdir(name, 0o755, dir_fd=descriptor)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = child
            relative += b"/" + name
            builder.created.append(relative)
        name_bytes = DEEP_RELATIVE_PATH_BYTES - len(relative) - 1
        name = (b"bottom-" + b"b" * name_bytes)[:name_bytes]
        file = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=descriptor)
        try:
            write_all(file, b"at the bottom\n", 0)
        finally:
            os.close(file)
        builder.created.append(relative + b"/" + name)
    finally:
        os.close(descriptor)


def set_times(directory: int, prefix: bytes, next_default: list) -> None:
    """Sets every mtime below the open directory, each child before its directory."""
    for name in sorted(os.fsencode(name) for name in os.listdir(directory)):
        relative = prefix + name
        status = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if (status.st_mode & 0o170000) == 0o040000:
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            try:
                set_times(child, relative + b"/", next_default)
            finally:
                os.close(child)
        mtime_ns = EXPLICIT_MTIMES_NS.get(relative)
        if mtime_ns is None:
            mtime_ns = next_default[0]
            next_default[0] += DEFAULT_MTIME_NS_STEP
        os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=directory, follow_symlinks=False)


def build(root: bytes, with_socket: bool) -> dict:
    os.umask(0o022)
    os.makedirs(root, exist_ok=True)
    if os.listdir(root):
        raise SystemExit("hard-case-tree.py: %s is not empty" % os.fsdecode(root))
    builder = Builder(root)
    build_files(builder)
    build_sparse(builder)
    build_xattrs(builder)
    build_acls(builder)
    build_links(builder)
    build_symlinks(builder)
    build_special(builder, with_socket)
    build_modes(builder)
    build_owners(builder)
    build_times(builder)
    build_names(builder)
    build_deep(builder)
    descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        set_times(descriptor, b"", [DEFAULT_MTIME_NS_START])
    finally:
        os.close(descriptor)
    return {"entries": len(builder.created), "data_bytes": builder.data_bytes, "skipped": builder.skipped}


def main(arguments: list) -> int:
    with_socket = "--with-socket" in arguments
    operands = [argument for argument in arguments if argument != "--with-socket"]
    if len(operands) != 1 or operands[0].startswith("--"):
        print("usage: hard-case-tree.py [--with-socket] ROOT", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("hard-case-tree.py: needs root (mknod, chown, trusted.* and security.* xattrs)", file=sys.stderr)
        return 2
    print(json.dumps(build(os.fsencode(operands[0]), with_socket)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
