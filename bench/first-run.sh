#!/usr/bin/env bash
# A newcomer's first run, measured: a clean clone of this repository and an empty target
# directory, then the README's first command, timed until the dashboard answers; then the size of
# the binary it built. Prints one line a figure and keeps cargo's --timings report.
#
#   bench/first-run.sh                # clones this checkout's HEAD
#   REPO=URL bench/first-run.sh       # another repository
#
# Settings (environment): REPO (default: this checkout), WORK (a scratch directory, default a new
# one under /tmp; it holds the clone and the target directory), PORT (the dashboard's port,
# default 8080, the README command's), LIMIT (seconds to wait, default 3600).
# Run it on an otherwise idle machine: the figure is the wall-clock time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPO=${REPO:-$ROOT}
WORK=${WORK:-$(mktemp -d /tmp/tally-first-run.XXXXXX)}
PORT=${PORT:-8080}
LIMIT=${LIMIT:-3600}

say() { printf 'first-run: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
    die "something already answers on port $PORT: stop it first"
fi

clone="$WORK/tally"
target="$WORK/target"
rm -rf "$clone" "$target"
git clone --quiet "$REPO" "$clone"
# The README's first command: the first line of its first sh block, comment cut off.
command=$(awk '/^```sh/{inside=1; next} inside{print; exit}' "$clone/README.md" | sed 's/#.*//; s/[[:space:]]*$//')
case "$command" in
    "cargo run"*) ;;
    *) die "the README's first command is not a cargo run: $command" ;;
esac
say "clone $(git -C "$clone" rev-parse --short HEAD), empty target dir $target"
# --timings goes to cargo, before the `--` that starts the program's arguments.
cargo_part=${command%% -- *}
program_part=${command#"$cargo_part"}
say "running: $cargo_part --timings$program_part (in $clone)"
log="$WORK/first-run.log"
start=$(date +%s)
(
    cd "$clone"
    export CARGO_TARGET_DIR="$target" CARGO_TERM_COLOR=never
    exec $cargo_part --timings $program_part
) >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; pkill -P "$pid" 2>/dev/null || true' EXIT

until curl -sf -o /dev/null "http://127.0.0.1:$PORT/_tally/"; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "the command ended before the dashboard answered"; }
    [ $(( $(date +%s) - start )) -lt "$LIMIT" ] || die "no dashboard after $LIMIT s"
    sleep 1
done
elapsed=$(( $(date +%s) - start ))

binary=$(find "$target" -maxdepth 2 -type f -name tally -perm -u+x | head -1)
bytes=$(stat -c %s "$binary")
stripped=$(strip -o "$WORK/tally.stripped" "$binary" && stat -c %s "$WORK/tally.stripped")
timings=$(ls -t "$target"/cargo-timings/cargo-timing-*.html 2>/dev/null | head -1 || true)

printf 'first run: the dashboard answered after %d min %02d s (%d s)\n' $((elapsed / 60)) $((elapsed % 60)) "$elapsed"
printf 'binary: %s, %d MB (%d MB stripped)\n' "${binary#"$target"/}" $((bytes / 1000000)) $((stripped / 1000000))
printf 'timings: %s\n' "${timings:-none}"
