#!/usr/bin/env python3
"""Crafts the hostile tar archives of test/import-security.test.ts, one per case.

Written with the Python standard library only, from raw 512-byte headers, so that the archives
share no code with holdfast's tar reader and every hostile byte is exactly where the advisory
puts it (the tarfile module would normalise or refuse some of them).

Every archive opens with a harmless "before.txt" and, unless the hostile part is a corrupt or
truncated ending, closes with a harmless "after.txt", so a test can show that the import went
on past a refused entry, or restored everything complete before a fatal one.

Usage:
  hostile-archives.py --list                       the case names, one per line
  hostile-archives.py CASE OUTPUT --outside DIR    write the archive of CASE to OUTPUT

DIR is the absolute path of the test's directory outside the target; cases with absolute names
or absolute link targets point into it, so a test's listing of "outside" sees any escape.
"""

import argparse
import sys

BLOCK_BYTES = 512
#  name, offset, width in bytes (POSIX ustar, IEEE Std 1003.1 "pax")
FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "gid": (116, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "chksum": (148, 8),
    "typeflag": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 6),
    "version": (263, 2),
    "uname": (265, 32),
    "gname": (297, 32),
    "devmajor": (329, 8),
    "devminor": (337, 8),
    "prefix": (345, 155),
}
MTIME = 1_700_000_000
TEN_GIB = 10 * 1024 * 1024 * 1024
LONG_NAME_PLACEHOLDER = b"holdfast-long-name-placeholder"


def numeric(value, width):
    """Octal with a NUL terminator, or GNU base-256 (0x80 marker) when octal does not fit."""
    digits = width - 1
    if value < 8**digits:
        return b"%0*o\x00" % (digits, value)
    return b"\x80" + value.to_bytes(width - 1, "big")


def header(name, typeflag, size=0, mode=0o644, linkname=b"", overrides=None):
    """One ustar header block. `overrides` puts raw bytes into named fields (corrupt fields)."""
    values = {
        "name": name,
        "mode": numeric(mode, 8),
        "uid": numeric(0, 8),
        "gid": numeric(0, 8),
        "size": numeric(size, 12),
        "mtime": numeric(MTIME, 12),
        "chksum": b" " * 8,
        "typeflag": typeflag,
        "linkname": linkname,
        "magic": b"ustar\x00",
        "version": b"00",
        "uname": b"root",
        "gname": b"root",
        "devmajor": numeric(0, 8),
        "devminor": numeric(0, 8),
        "prefix": b"",
    }
    values.update(overrides or {})
    block = bytearray(BLOCK_BYTES)
    for field, value in values.items():
        offset, width = FIELDS[field]
        if len(value) > width:
            raise ValueError(f"{field} is {len(value)} bytes, the field holds {width}")
        block[offset : offset + len(value)] = value
    checksum = sum(block)
    block[148:156] = b"%06o\x00 " % checksum
    return bytes(block)


def padded(data):
    return data + b"\x00" * (-len(data) % BLOCK_BYTES)


def length_prefixed(body):
    """`<length><body>`, where length counts the whole record, its own digits too."""
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def pax_record(key, value):
    """`<length> <key>=<value>\\n`."""
    return length_prefixed(b" " + key + b"=" + value + b"\n")


def pax_header(records_data, name, declared_size=None):
    """An 'x' header whose data is `records_data` (already encoded, possibly malformed)."""
    size = len(records_data) if declared_size is None else declared_size
    return header(b"PaxHeaders/" + name, b"x", size=size) + padded(records_data)


def entry(name, typeflag, data=b"", mode=0o644, linkname=b"", pax=b""):
    """An entry; names or link targets longer than a ustar field travel in a pax header."""
    if len(name) > 100:
        pax += pax_record(b"path", name)
        name = LONG_NAME_PLACEHOLDER
    if len(linkname) > 100:
        pax += pax_record(b"linkpath", linkname)
        linkname = LONG_NAME_PLACEHOLDER
    prefix = pax_header(pax, name.split(b"/")[-1][:80]) if pax else b""
    return prefix + header(name, typeflag, len(data), mode, linkname) + padded(data)


def regular(name, data=b"planted\n", mode=0o644):
    return entry(name, b"0", data, mode)


def directory(name, mode=0o755):
    return entry(name, b"5", mode=mode)


def symlink(name, target):
    return entry(name, b"2", mode=0o777, linkname=target)


def hardlink(name, target):
    return entry(name, b"1", linkname=target)


BEFORE = regular(b"before.txt", b"before\n")
AFTER = regular(b"after.txt", b"after\n")
END = b"\x00" * (2 * BLOCK_BYTES)


def archive(*parts):
    return BEFORE + b"".join(parts) + AFTER + END


def cut_short(*parts):
    """No after.txt, no end blocks: the archive ends where the last part ends."""
    return BEFORE + b"".join(parts)


NFC = "caf\u00e9".encode()  # é as one code point
NFD = "cafe\u0301".encode()  # e + combining acute accent: the same text, other bytes


def case_cve_2021_32803(outside):
    return archive(
        directory(b"foo"),
        symlink(b"foo", b"../outside"),
        regular(b"foo/planted-32803"),
    )


def case_cve_2021_32804(outside):
    return archive(
        regular(outside + b"/planted-one-slash"),
        regular(b"//" + outside + b"/planted-two-slashes"),
        regular(b"////" + outside + b"/planted-five-slashes"),
    )


def case_cve_2021_37701(outside):
    return archive(
        directory(b"a\\b"),
        symlink(b"a\\b", b"../outside"),
        regular(b"a\\b/planted-37701"),
        regular(b"c\\d", b"one name with a backslash\n"),
        directory(b"FOO"),
        symlink(b"foo", b"../outside"),
        regular(b"FOO/case-37701", b"in the real directory FOO\n"),
    )


def case_cve_2021_37712(outside):
    return archive(
        directory(NFC),
        directory(NFD),
        symlink(NFC, b"../outside"),
        regular(NFD + b"/nfd-37712", b"in the NFD directory\n"),
        regular(NFC + b"/planted-37712"),
    )


def case_cve_2021_37713(outside):
    return archive(
        regular(b"C:../outside/drive-relative-37713", b"drive-relative\n"),
        regular(b"..\\..\\outside\\backslashes-37713", b"backslashes\n"),
        regular(b"C:\\..\\outside\\drive-absolute-37713", b"drive-absolute\n"),
    )


def case_cve_2018_20834_linked_file(outside):
    return archive(
        regular(b"data-20834.txt", b"original\n"),
        hardlink(b"link-20834", b"data-20834.txt"),
        regular(b"link-20834", b"replacement\n"),
    )


def case_cve_2018_20834_link_outside(outside):
    return archive(
        hardlink(b"escape-absolute-20834", outside + b"/sentinel.txt"),
        hardlink(b"escape-relative-20834", b"../outside/sentinel.txt"),
        regular(b"escape-absolute-20834", b"replacement\n"),
        regular(b"escape-relative-20834", b"replacement\n"),
    )


def case_cve_2024_28863(outside):
    return archive(regular(b"d/" * 100_000 + b"deep-28863", b"deep\n"))


def case_cve_2026_23745(outside):
    return archive(
        hardlink(b"absolute-hardlink-23745", outside + b"/sentinel.txt"),
        symlink(b"absolute-symlink-23745", outside + b"/sentinel.txt"),
        regular(b"absolute-symlink-23745", b"replacement\n"),
        symlink(b"absolute-directory-symlink-23745", outside),
        regular(b"absolute-directory-symlink-23745/planted-23745"),
    )


def case_cve_2026_24842(outside):
    return archive(
        directory(b"a"),
        directory(b"a/b"),
        directory(b"a/outside"),
        regular(b"a/outside/sentinel.txt", b"decoy inside the target\n"),
        # Against the link's own directory a/b this names a/outside/sentinel.txt, inside the
        # target; against the archive root (how tar means it) it names ../outside/sentinel.txt.
        hardlink(b"a/b/link-24842", b"../outside/sentinel.txt"),
        regular(b"a/b/link-24842", b"replacement\n"),
    )


def case_cve_2026_26960(outside):
    return archive(
        directory(b"a"),
        directory(b"a/b"),
        directory(b"a/b/c"),
        symlink(b"a/b/c/up", b"../.."),
        symlink(b"a/b/escape", b"c/up/../.."),
        hardlink(b"exfil-26960", b"a/b/escape/outside/sentinel.txt"),
        regular(b"exfil-26960", b"replacement\n"),
    )


def case_cve_2026_29786_31802(outside):
    return archive(
        hardlink(b"drive-hardlink-29786", b"C:../outside/sentinel.txt"),
        regular(b"drive-hardlink-29786", b"replacement\n"),
        symlink(b"drive-symlink-31802", b"C:../outside"),
        regular(b"drive-symlink-31802/planted-31802"),
    )


def case_cve_2026_23950(outside):
    return archive(
        directory(b"ss"),
        symlink("\u00df".encode(), b"../outside"),
        regular(b"ss/ss-23950", b"in the real directory ss\n"),
        regular("\u00df".encode() + b"/planted-23950"),
    )


def case_cve_2001_1267(outside):
    return archive(
        regular(b"../outside/planted-1267-a"),
        regular(b"./../outside/planted-1267-b"),
        regular(b"misc/../../outside/planted-1267-c"),
        directory(b"..", mode=0o777),
        directory(b"../outside", mode=0o777),
    )


def case_cve_2016_6321(outside):
    return archive(
        regular(b"etc/motd/../etc/shadow-6321"),
        regular(b"etc/../../outside/planted-6321"),
    )


def case_cve_2019_9923_truncated_sparse_map(outside):
    records = (
        pax_record(b"GNU.sparse.major", b"1")
        + pax_record(b"GNU.sparse.minor", b"0")
        + pax_record(b"GNU.sparse.name", b"sparse-9923")
        + pax_record(b"GNU.sparse.realsize", b"1048576")
    )
    # The map ("1\n0\n512\n") and the data would follow in the next blocks: the archive ends.
    return cut_short(
        pax_header(records, b"sparse-9923"),
        header(b"GNUSparseFile.0/sparse-9923", b"0", size=2 * BLOCK_BYTES),
    )


def case_cve_2019_9923_missing_equals(outside):
    record = length_prefixed(b" pathmissing-equals-9923\n")  # no '=' after the keyword
    return archive(
        pax_header(record, b"missing-equals-9923"),
        header(b"missing-equals-9923", b"0", size=8) + padded(b"content\n"),
    )


def case_cve_2022_48303_blank_mtime(outside):
    return archive(
        header(b"blank-mtime-48303", b"0", size=8, overrides={"mtime": b" " * 12}) + padded(b"content\n"),
    )


def case_cve_2022_48303_base_256_last_byte(outside):
    return archive(
        header(b"base-256-48303", b"0", size=8, overrides={"mtime": b" " * 11 + b"\x80"}) + padded(b"content\n"),
    )


def case_cve_2023_39804_xattr_count(outside):
    records = b"".join(pax_record(b"SCHILY.xattr.user.holdfast-%06d" % index, b"x") for index in range(100_000))
    return archive(pax_header(records, b"xattrs-39804") + header(b"xattrs-39804", b"0", size=0))


def case_cve_2023_39804_xattr_name(outside):
    records = pax_record(b"SCHILY.xattr.user." + b"n" * (1024 * 1024), b"x")
    return archive(pax_header(records, b"xattr-name-39804") + header(b"xattr-name-39804", b"0", size=0))


def case_cve_2022_2879_pax_size(outside):
    # The header declares 10 GiB of pax records (base-256); the archive holds one block of them.
    records = pax_record(b"path", b"huge-pax-2879")
    return cut_short(pax_header(records, b"huge-pax-2879", declared_size=TEN_GIB))


def case_cve_2022_2879_pax_record_length(outside):
    record = b"%d path=huge-record-2879\n" % TEN_GIB  # claims 10 GiB, holds 36 bytes
    return archive(pax_header(record, b"huge-record-2879") + header(b"huge-record-2879", b"0", size=0))


def case_cve_2025_58183(outside):
    records = (
        pax_record(b"GNU.sparse.major", b"1")
        + pax_record(b"GNU.sparse.minor", b"0")
        + pax_record(b"GNU.sparse.name", b"sparse-regions-58183")
        + pax_record(b"GNU.sparse.realsize", b"1000000000000")
    )
    sparse_map = padded(b"1000000000\n" + b"0\n1\n" * 16)  # declares 10^9 regions, lists 16
    return archive(
        pax_header(records, b"sparse-regions-58183"),
        header(b"GNUSparseFile.0/sparse-regions-58183", b"0", size=len(sparse_map) + BLOCK_BYTES),
        sparse_map + padded(b"d" * 16),
    )


def case_cve_2025_45582_first(outside):
    return archive(symlink(b"x", b"../outside"))


def case_cve_2025_45582_second(outside):
    return archive(regular(b"x/planted-45582"))


def case_cve_2025_62518(outside):
    # An inner archive as the carrier's data. A reader that takes the ustar size (0) instead of
    # the pax size reads the inner headers as entries of the outer archive.
    inner = regular(b"smuggled-62518", b"smuggled\n") + regular(outside + b"/smuggled-62518", b"smuggled\n")
    return archive(
        pax_header(pax_record(b"size", str(len(inner)).encode()), b"carrier-62518"),
        header(b"carrier-62518", b"0", size=0) + inner,
    )


def case_symlink_chain(outside):
    return archive(
        symlink(b"a", b"b"),
        symlink(b"b", b"../outside"),
        regular(b"a/planted-chain"),
    )


def case_preexisting_symlink(outside):
    # The test makes target/preexisting-link -> ../outside before the import.
    return archive(regular(b"preexisting-link/planted-preexisting"))


def case_hardlink_to_symlink(outside):
    return archive(
        symlink(b"symlink-to-sentinel", b"../outside/sentinel.txt"),
        hardlink(b"hardlink-to-symlink", b"symlink-to-sentinel"),
        regular(b"hardlink-to-symlink", b"replacement\n"),
    )


def case_file_over_existing_symlink(outside):
    # The test makes target/existing-symlink -> ../outside/sentinel.txt before the import.
    return archive(regular(b"existing-symlink", b"replacement\n"))


def case_file_over_existing_hardlink(outside):
    # The test makes target/existing-hardlink a hard link of outside/linked.txt before the import.
    return archive(regular(b"existing-hardlink", b"replacement\n"))


def case_truncated_data(outside):
    return cut_short(header(b"truncated-entry", b"0", size=10_000) + b"t" * 3_000)


def case_truncated_header(outside):
    return cut_short(header(b"truncated-header", b"0", size=0)[:200])


CASES = {
    name[len("case_") :].replace("_", "-"): function
    for name, function in sorted(globals().items())
    if name.startswith("case_") and callable(function)
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print the case names")
    parser.add_argument("case", nargs="?")
    parser.add_argument("output", nargs="?")
    parser.add_argument("--outside", help="absolute path of the directory outside the target")
    arguments = parser.parse_args()
    if arguments.list:
        print("\n".join(CASES))
        return 0
    if arguments.case not in CASES or arguments.output is None or arguments.outside is None:
        parser.print_usage(sys.stderr)
        print(f"hostile-archives: cases are {', '.join(CASES)}", file=sys.stderr)
        return 2
    outside = arguments.outside.encode()
    if not outside.startswith(b"/"):
        print("hostile-archives: --outside must be an absolute path", file=sys.stderr)
        return 2
    with open(arguments.output, "wb") as output:
        output.write(CASES[arguments.case](outside.rstrip(b"/")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
