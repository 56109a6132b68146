#!/usr/bin/env python3
"""Data set for bench/repo-backup.ts (not a test): made from a seed, byte for byte the same each time.

    make-dataset.py generate --dir DATA [--seed N] [--scale X] [--layout standard|small-files]
    make-dataset.py change   --dir DATA [--seed N] [--scale X] [--layout standard|small-files]

`generate` makes DATA, which must not exist, and `change` applies the "1% change" to a DATA that
`generate` made with the same seed, scale and layout. Each prints one JSON line describing what it
did. The two layouts draw from separate code paths, so adding one never changes the other's bytes.

Layout "standard" (the default) at scale 1 (sizes and counts scale linearly; the 8 large files and
3 sparse extents do not change in number):
- large/big-{0..7}.bin: 8 files of 100 MiB of seeded random bytes (incompressible, unique).
- text/g{00..04}/d{0..9}/t{00000..04999}.txt: 5,000 text files of 1-30 KiB in 50 directories:
  lines of generated words, compressible (restic and borg store the 75 MiB in about 40 MiB).
- copies/big-0-copy.bin: a byte-identical copy of large/big-0.bin (100 MiB of duplicate data).
- copies/text/...: 300 text files copied from text/ under the same relative names.
- sparse/disk.img: 1 GiB apparent size, three 8 MiB extents of random data (one in each third of
  the file, at 4 KiB-aligned seeded offsets), holes elsewhere.
About 1,004 MiB of data in 5,310 files (plus 1 GiB of holes).

Every file and directory gets a fixed mode and mtime (directories last, deepest first), so two
trees made from the same seed have the same content and metadata; only inode numbers and ctimes
differ.

The 1% change is 1% of the regular files by count (at least 5; 53 of 5,310 at scale 1), chosen
from the seed:
- 2 large files: a seeded 4 KiB region rewritten with new random bytes (size unchanged);
- of the rest, 40% text files get 1-4 KiB of new lines appended, 30% text files get only a new
  mtime (content unchanged), 15% new text files are created, the remainder of text files deleted.
Every changed file and every directory whose entries changed gets the same fixed "change" mtime,
one day after the data set's, so the changed tree is deterministic too.

Layout "small-files" at scale 1 (counts scale linearly: 1,000,000 files in 28,000 directories at
scale 10), for the per-file costs that the standard layout's large files hide:
- gNNN/dNN/fNNNNNNN.{txt,bin}: 100,000 regular files of 100-3,000 bytes (uniform) in 2,800
  directories, a 2-level tree of 56 groups of 50 directories (the last group holds the remainder
  at other scales), about 36 consecutive files a directory. Files alternate within a directory:
  even numbers are .txt (lines of generated words, compressible, as in text/ above), odd numbers
  are .bin (seeded random bytes, incompressible). About 148 MiB of data, about 400 MiB on disk
  (every file takes at least one 4 KiB block). No duplicates, no sparse file.
Modes and mtimes are fixed as in the standard layout. The 1% change is 1% of the files by count
(1,000 at scale 1, at least 5), chosen from the seed: 40% get 100-1,000 bytes of their own kind
appended, 30% only a new mtime, 15% new files (of 100-3,000 bytes, alternating kinds) are created
in seeded directories, the remainder are deleted; the change mtime as above.
"""

import argparse
import json
import os
import random
import shutil
import sys

KIBIBYTE = 1024
MEBIBYTE = 1024 * KIBIBYTE
GIBIBYTE = 1024 * MEBIBYTE
PAGE_BYTES = 4096

DEFAULT_SEED = 0x5EED0B4C
LARGE_FILE_COUNT = 8
LARGE_FILE_BYTES = 100 * MEBIBYTE
TEXT_FILE_COUNT = 5000
TEXT_FILE_BYTES_MIN = 1 * KIBIBYTE
TEXT_FILE_BYTES_MAX = 30 * KIBIBYTE
TEXT_GROUP_COUNT = 5
TEXT_DIRECTORIES_PER_GROUP = 10
DUPLICATE_TEXT_FILE_COUNT = 300
SPARSE_APPARENT_BYTES = 1 * GIBIBYTE
SPARSE_EXTENT_COUNT = 3
SPARSE_EXTENT_BYTES = 8 * MEBIBYTE
WRITE_CHUNK_BYTES = 4 * MEBIBYTE
VOCABULARY_WORD_COUNT = 4096
LINE_POOL_COUNT = 20000
CHANGE_FRACTION = 0.01
CHANGE_FILE_COUNT_MIN = 5
CHANGE_LARGE_FILE_COUNT = 2
CHANGE_REGION_BYTES = 4 * KIBIBYTE
CHANGE_APPEND_BYTES_MIN = 1 * KIBIBYTE
CHANGE_APPEND_BYTES_MAX = 4 * KIBIBYTE
SCALE_MAX = 16
SMALL_FILE_COUNT = 100_000
SMALL_FILE_BYTES_MIN = 100
SMALL_FILE_BYTES_MAX = 3_000
SMALL_DIRECTORY_COUNT = 2_800
SMALL_DIRECTORIES_PER_GROUP = 50
SMALL_CHANGE_APPEND_BYTES_MIN = 100
SMALL_CHANGE_APPEND_BYTES_MAX = 1_000
LAYOUTS = ("standard", "small-files")

# 2024-01-01T00:00:00Z; the change step uses one day later.
BASE_MTIME_NS = 1_704_067_200 * 1_000_000_000
CHANGE_MTIME_NS = BASE_MTIME_NS + 86_400 * 1_000_000_000
FILE_MODES = (0o644, 0o644, 0o644, 0o600, 0o755)
DIRECTORY_MODE = 0o755


def scaled(value, scale, multiple=1):
    return max(multiple, round(value * scale / multiple) * multiple)


def text_directories(scale):
    """The text directories, relative to DATA: ~50 at scale 1, at least 1."""
    count = max(1, round(TEXT_GROUP_COUNT * TEXT_DIRECTORIES_PER_GROUP * scale))
    return [f"text/g{index // TEXT_DIRECTORIES_PER_GROUP:02d}/d{index % TEXT_DIRECTORIES_PER_GROUP}" for index in range(count)]


def text_maker(rng):
    """Returns make(size_bytes) -> bytes of whole lines of words: compressible, varied."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(VOCABULARY_WORD_COUNT)]
    lines = [(" ".join(rng.choices(vocabulary, k=rng.randint(4, 14))) + "\n").encode() for _ in range(LINE_POOL_COUNT)]
    average_line_bytes = sum(len(line) for line in lines) / len(lines)

    def make(size_bytes):
        chosen = rng.choices(lines, k=int(size_bytes / average_line_bytes) + 2)
        return b"".join(chosen)[:size_bytes]

    return make


def write_random(path, size_bytes, rng):
    with open(path, "wb") as file:
        for position in range(0, size_bytes, WRITE_CHUNK_BYTES):
            file.write(rng.randbytes(min(WRITE_CHUNK_BYTES, size_bytes - position)))


def write_sparse(path, scale, rng):
    apparent_bytes = scaled(SPARSE_APPARENT_BYTES, scale, PAGE_BYTES)
    extent_bytes = scaled(SPARSE_EXTENT_BYTES, scale, PAGE_BYTES)
    part_bytes = apparent_bytes // SPARSE_EXTENT_COUNT // PAGE_BYTES * PAGE_BYTES
    with open(path, "wb") as file:
        for index in range(SPARSE_EXTENT_COUNT):
            slack_pages = max(0, (part_bytes - extent_bytes) // PAGE_BYTES)
            file.seek(index * part_bytes + rng.randrange(slack_pages + 1) * PAGE_BYTES)
            file.write(rng.randbytes(extent_bytes))
        file.truncate(apparent_bytes)
    return {"apparentBytes": apparent_bytes, "extentCount": SPARSE_EXTENT_COUNT, "extentBytes": extent_bytes}


def set_metadata(root, relative_path, mode, mtime_ns):
    path = os.path.join(root, relative_path)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def generate(root, seed, scale):
    if os.path.exists(root):
        sys.exit(f"Cannot generate the data set: {root} exists (move it away first)")
    rng = random.Random(seed)
    files = []
    os.makedirs(os.path.join(root, "large"))
    large_bytes = scaled(LARGE_FILE_BYTES, scale, PAGE_BYTES)
    for index in range(LARGE_FILE_COUNT):
        files.append(f"large/big-{index}.bin")
        write_random(os.path.join(root, files[-1]), large_bytes, rng)
    make_text = text_maker(rng)
    directories = text_directories(scale)
    for directory in directories:
        os.makedirs(os.path.join(root, directory))
    text_files = []
    for index in range(max(1, round(TEXT_FILE_COUNT * scale))):
        relative_path = f"{directories[index % len(directories)]}/t{index:05d}.txt"
        with open(os.path.join(root, relative_path), "wb") as file:
            file.write(make_text(rng.randint(TEXT_FILE_BYTES_MIN, TEXT_FILE_BYTES_MAX)))
        text_files.append(relative_path)
    files.extend(text_files)
    os.makedirs(os.path.join(root, "copies"))
    files.append("copies/big-0-copy.bin")
    shutil.copyfile(os.path.join(root, "large/big-0.bin"), os.path.join(root, files[-1]))
    for relative_path in sorted(rng.sample(text_files, min(len(text_files), max(1, round(DUPLICATE_TEXT_FILE_COUNT * scale))))):
        copy = f"copies/{relative_path}"
        os.makedirs(os.path.dirname(os.path.join(root, copy)), exist_ok=True)
        shutil.copyfile(os.path.join(root, relative_path), os.path.join(root, copy))
        files.append(copy)
    os.makedirs(os.path.join(root, "sparse"))
    files.append("sparse/disk.img")
    sparse = write_sparse(os.path.join(root, files[-1]), scale, rng)
    for index, relative_path in enumerate(files):
        set_metadata(root, relative_path, FILE_MODES[index // 3 % len(FILE_MODES)], BASE_MTIME_NS + index * 1_000_000_000)
    set_directory_metadata(root, BASE_MTIME_NS)
    data_bytes = sum(os.path.getsize(os.path.join(root, path)) for path in files) - sparse["apparentBytes"] + sparse["extentCount"] * sparse["extentBytes"]
    return {"action": "generate", "seed": seed, "scale": scale, "fileCount": len(files), "dataBytes": data_bytes, "sparse": sparse}


def set_directory_metadata(root, mtime_ns, only=None):
    """Deepest first, so setting a child's mtime does not disturb its parent's afterwards."""
    directories = [os.path.relpath(path, root) for path, _, _ in os.walk(root)]
    for relative_path in sorted(directories, key=lambda path: path.count(os.sep), reverse=True):
        if only is None or relative_path in only:
            set_metadata(root, relative_path, DIRECTORY_MODE, mtime_ns)


def change(root, seed, scale):
    rng = random.Random(seed ^ 0xC4A96E)
    make_text = text_maker(rng)
    regular_files = sorted(os.path.relpath(os.path.join(path, name), root) for path, _, names in os.walk(root) for name in names)
    text_files = [path for path in regular_files if path.startswith("text/")]
    changed_count = max(CHANGE_FILE_COUNT_MIN, round(len(regular_files) * CHANGE_FRACTION))
    rest = changed_count - CHANGE_LARGE_FILE_COUNT
    append_count = round(rest * 0.40)
    touch_count = round(rest * 0.30)
    create_count = round(rest * 0.15)
    delete_count = rest - append_count - touch_count - create_count
    changed_directories = set()
    written_bytes = 0
    for relative_path in rng.sample([f"large/big-{index}.bin" for index in range(LARGE_FILE_COUNT)], CHANGE_LARGE_FILE_COUNT):
        path = os.path.join(root, relative_path)
        with open(path, "r+b") as file:
            file.seek(rng.randrange(os.path.getsize(path) - CHANGE_REGION_BYTES + 1))
            file.write(rng.randbytes(CHANGE_REGION_BYTES))
        written_bytes += CHANGE_REGION_BYTES
        os.utime(path, ns=(CHANGE_MTIME_NS, CHANGE_MTIME_NS))
    chosen = rng.sample(text_files, append_count + touch_count + delete_count)
    for relative_path in chosen[:append_count]:
        appended = make_text(rng.randint(CHANGE_APPEND_BYTES_MIN, CHANGE_APPEND_BYTES_MAX))
        with open(os.path.join(root, relative_path), "ab") as file:
            file.write(appended)
        written_bytes += len(appended)
    for relative_path in chosen[: append_count + touch_count]:
        os.utime(os.path.join(root, relative_path), ns=(CHANGE_MTIME_NS, CHANGE_MTIME_NS))
    for relative_path in chosen[append_count + touch_count :]:
        os.remove(os.path.join(root, relative_path))
        changed_directories.add(os.path.dirname(relative_path))
    directories = text_directories(scale)
    for index in range(create_count):
        relative_path = f"{directories[rng.randrange(len(directories))]}/new-{index:04d}.txt"
        content = make_text(rng.randint(TEXT_FILE_BYTES_MIN, TEXT_FILE_BYTES_MAX))
        with open(os.path.join(root, relative_path), "wb") as file:
            file.write(content)
        written_bytes += len(content)
        set_metadata(root, relative_path, 0o644, CHANGE_MTIME_NS)
        changed_directories.add(os.path.dirname(relative_path))
    set_directory_metadata(root, CHANGE_MTIME_NS, only=changed_directories)
    return {
        "action": "change",
        "fileCountBefore": len(regular_files),
        "changedFileCount": changed_count,
        "largeRewrittenCount": CHANGE_LARGE_FILE_COUNT,
        "regionBytes": CHANGE_REGION_BYTES,
        "appendedCount": append_count,
        "touchedCount": touch_count,
        "createdCount": create_count,
        "deletedCount": delete_count,
        "writtenBytes": written_bytes,
    }


def small_directories(scale):
    """The small-files directories, relative to DATA: 2,800 at scale 1 in groups of 50, at least 1."""
    count = max(1, round(SMALL_DIRECTORY_COUNT * scale))
    return [f"g{index // SMALL_DIRECTORIES_PER_GROUP:03d}/d{index % SMALL_DIRECTORIES_PER_GROUP:02d}" for index in range(count)]


def small_content(index, size_bytes, make_text, rng):
    """Even file numbers get compressible text, odd ones random bytes: returns (extension, bytes)."""
    if index % 2 == 0:
        return "txt", make_text(size_bytes)
    return "bin", rng.randbytes(size_bytes)


def write_file(root, relative_path, content, mode, mtime_ns):
    with open(os.path.join(root, relative_path), "wb") as file:
        file.write(content)
    set_metadata(root, relative_path, mode, mtime_ns)


def generate_small_files(root, seed, scale):
    if os.path.exists(root):
        sys.exit(f"Cannot generate the data set: {root} exists (move it away first)")
    rng = random.Random(seed)
    make_text = text_maker(rng)
    directories = small_directories(scale)
    for directory in directories:
        os.makedirs(os.path.join(root, directory))
    file_count = max(1, round(SMALL_FILE_COUNT * scale))
    data_bytes = 0
    for index in range(file_count):
        # Consecutive numbers share a directory, so each directory holds both kinds of file.
        directory = directories[index * len(directories) // file_count]
        extension, content = small_content(index, rng.randint(SMALL_FILE_BYTES_MIN, SMALL_FILE_BYTES_MAX), make_text, rng)
        write_file(root, f"{directory}/f{index:07d}.{extension}", content, FILE_MODES[index // 3 % len(FILE_MODES)], BASE_MTIME_NS + index * 1_000_000_000)
        data_bytes += len(content)
    set_directory_metadata(root, BASE_MTIME_NS)
    return {"action": "generate", "seed": seed, "scale": scale, "fileCount": file_count, "directoryCount": len(directories), "dataBytes": data_bytes}


def change_small_files(root, seed, scale):
    rng = random.Random(seed ^ 0xC4A96E)
    make_text = text_maker(rng)
    regular_files = sorted(os.path.relpath(os.path.join(path, name), root) for path, _, names in os.walk(root) for name in names)
    changed_count = max(CHANGE_FILE_COUNT_MIN, round(len(regular_files) * CHANGE_FRACTION))
    append_count = round(changed_count * 0.40)
    touch_count = round(changed_count * 0.30)
    create_count = round(changed_count * 0.15)
    delete_count = changed_count - append_count - touch_count - create_count
    changed_directories = set()
    written_bytes = 0
    chosen = rng.sample(regular_files, append_count + touch_count + delete_count)
    for relative_path in chosen[:append_count]:
        size_bytes = rng.randint(SMALL_CHANGE_APPEND_BYTES_MIN, SMALL_CHANGE_APPEND_BYTES_MAX)
        appended = make_text(size_bytes) if relative_path.endswith(".txt") else rng.randbytes(size_bytes)
        with open(os.path.join(root, relative_path), "ab") as file:
            file.write(appended)
        written_bytes += len(appended)
    for relative_path in chosen[: append_count + touch_count]:
        os.utime(os.path.join(root, relative_path), ns=(CHANGE_MTIME_NS, CHANGE_MTIME_NS))
    for relative_path in chosen[append_count + touch_count :]:
        os.remove(os.path.join(root, relative_path))
        changed_directories.add(os.path.dirname(relative_path))
    directories = small_directories(scale)
    for index in range(create_count):
        directory = directories[rng.randrange(len(directories))]
        extension, content = small_content(index, rng.randint(SMALL_FILE_BYTES_MIN, SMALL_FILE_BYTES_MAX), make_text, rng)
        write_file(root, f"{directory}/new-{index:05d}.{extension}", content, 0o644, CHANGE_MTIME_NS)
        written_bytes += len(content)
        changed_directories.add(directory)
    set_directory_metadata(root, CHANGE_MTIME_NS, only=changed_directories)
    return {
        "action": "change",
        "fileCountBefore": len(regular_files),
        "changedFileCount": changed_count,
        "appendedCount": append_count,
        "touchedCount": touch_count,
        "createdCount": create_count,
        "deletedCount": delete_count,
        "writtenBytes": written_bytes,
    }


ACTIONS = {
    ("standard", "generate"): generate,
    ("standard", "change"): change,
    ("small-files", "generate"): generate_small_files,
    ("small-files", "change"): change_small_files,
}


def main():
    parser = argparse.ArgumentParser(description="Seeded data set for bench/repo-backup.ts")
    parser.add_argument("action", choices=("generate", "change"))
    parser.add_argument("--dir", required=True)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--layout", choices=LAYOUTS, default="standard")
    arguments = parser.parse_args()
    if not 0 < arguments.scale <= SCALE_MAX:
        sys.exit(f"Cannot use scale {arguments.scale}: expected a number above 0, up to {SCALE_MAX}")
    action = ACTIONS[(arguments.layout, arguments.action)]
    print(json.dumps({"layout": arguments.layout, **action(arguments.dir, arguments.seed, arguments.scale)}))


if __name__ == "__main__":
    main()
