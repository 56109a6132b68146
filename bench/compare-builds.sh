#!/usr/bin/env bash
# Two builds of holdfast and restic, side by side on one tree: backup and restore, RUNS times.
#
#   bench/compare-builds.sh BEFORE_DIST AFTER_DIST DATA [RUNS]
#
# BEFORE_DIST and AFTER_DIST are dist/ directories of two builds (a clone of an older commit,
# `npx tsc -p tsconfig.build.json`, and this one). Prints one line per run and tool: wall
# seconds and peak RSS KiB (/usr/bin/time) of the backup and of the restore of DATA (holdfast
# restores SNAPSHOT:DATA). Take the medians; nothing here judges them.
set -u
before=$1; after=$2; data=$3; runs=${4:-3}
work=$(mktemp -d /tmp/holdfast-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT
export RESTIC_PASSWORD=bench HOLDFAST_PASSWORD=bench XDG_CACHE_HOME=$work/cache RESTIC_CACHE_DIR=$work/restic-cache
measure() {
  /usr/bin/time -f "%e s %M KiB" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { echo "FAILED: $*" >&2; tail -3 "$work/err" >&2; }
  cat "$work/time"
}
for run in $(seq 1 "$runs"); do
  for tool in before after restic; do
    repository=$work/repository-$tool; target=$work/target-$tool
    sync
    case $tool in
      before | after)
        dist=$before; [ "$tool" = after ] && dist=$after
        node "$dist/cli/main.js" init --repo "$repository" >/dev/null 2>&1
        backup=$(measure node "$dist/cli/main.js" backup -q --repo "$repository" "$data"); sync
        restore=$(measure node "$dist/cli/main.js" restore -q "latest:$data" --repo "$repository" --target "$target") ;;
      restic)
        restic init -q -r "$repository" >/dev/null 2>&1
        backup=$(measure restic -q -r "$repository" backup "$data"); sync
        restore=$(measure restic -q -r "$repository" restore latest --target "$target") ;;
    esac
    echo "run $run $tool: backup $backup; restore $restore"
    rm -rf "$repository" "$target"
  done
done
