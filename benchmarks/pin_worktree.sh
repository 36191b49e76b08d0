#!/usr/bin/env bash
# A git worktree pinned to a commit, to run a long study from: code changed
# in this checkout meanwhile cannot break the study's resume, while what the
# study reads and writes is this checkout's (.venv, data/, work_dirs/ and
# benchmarks/results/ are links to it, so results land here as they finish).
#
#   benchmarks/pin_worktree.sh ../wt_study [COMMIT]     # COMMIT: default HEAD
#   cd ../wt_study && python benchmarks/camvid_plateau.py ...
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 DIR [COMMIT]" >&2
    exit 2
fi
dir=$1
commit=${2:-HEAD}
main=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
if [[ -e "$dir" ]]; then
    echo "$0: $dir exists; pick a new folder" >&2
    exit 1
fi
if ! sha=$(git -C "$main" rev-parse --verify --quiet "$commit^{commit}"); then
    echo "$0: COMMIT '$commit' is not a commit of $main" >&2
    exit 1
fi
git -C "$main" worktree add --quiet --detach "$dir" "$sha"
dir=$(cd "$dir" && pwd)
[[ -d "$main/.venv" ]] && ln -s "$main/.venv" "$dir/.venv"
for path in data work_dirs; do
    mkdir -p "$main/$path"
    ln -s "$main/$path" "$dir/$path"
done
rm -rf "$dir/benchmarks/results"
mkdir -p "$dir/benchmarks"
ln -s "$main/benchmarks/results" "$dir/benchmarks/results"
echo "$dir: commit ${sha:0:7}; .venv, data, work_dirs and benchmarks/results are $main's"
