#!/usr/bin/env bash
# git_case.sh GIT -- in the current (empty) directory: a repository with a few hundred files and
# three commits with fixed authors and dates, a repack and an fsck; prints commit ids, trees and
# object listings, which are identical whenever git worked.
set -euo pipefail
git=$1
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL="committer@example.com"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
g() { "$git" -c core.autocrlf=false -c gc.auto=0 -c pack.threads=2 "$@"; }

g init -q -b main repo
cd repo
for d in 0 1 2 3 4 5 6 7; do
    mkdir -p "dir$d"
    for i in $(seq 1 40); do
        for k in $(seq 1 $(( (i * 7 + d) % 30 + 1 ))); do
            echo "dir $d file $i line $k: $(( (i * 2654435761 + k * 40503 + d) % 1000003 ))"
        done >"dir$d/file$i.txt"
    done
done
GIT_AUTHOR_DATE="2020-01-01T00:00:00Z" GIT_COMMITTER_DATE="2020-01-01T00:00:00Z" \
    g add -A
GIT_AUTHOR_DATE="2020-01-01T00:00:00Z" GIT_COMMITTER_DATE="2020-01-01T00:00:00Z" \
    g commit -q -m "first: 320 files"
for d in 1 3 5; do
    for i in $(seq 1 40 | awk 'NR % 3 == 0'); do echo "changed $d $i" >>"dir$d/file$i.txt"; done
    g mv "dir$d/file1.txt" "dir$d/renamed1.txt"
done
g rm -q dir7/file2.txt
GIT_AUTHOR_DATE="2020-01-02T12:00:00Z" GIT_COMMITTER_DATE="2020-01-02T12:00:00Z" \
    g commit -q -a -m "second: edits, renames, a removal"
g checkout -q -b side HEAD~1
echo "side branch" >side.txt
g add side.txt
GIT_AUTHOR_DATE="2020-01-03T00:00:00Z" GIT_COMMITTER_DATE="2020-01-03T00:00:00Z" \
    g commit -q -m "side"
g checkout -q main
GIT_AUTHOR_DATE="2020-01-04T00:00:00Z" GIT_COMMITTER_DATE="2020-01-04T00:00:00Z" \
    g merge -q --no-edit side
g log --format=%H --all
g log --format='%H %T %an %ad %s' --date=iso-strict main
g cat-file -p HEAD
g cat-file -p 'HEAD^{tree}' | head -20
g cat-file -p HEAD~1:dir3/file3.txt | head -5
g diff --stat HEAD~2 HEAD | tail -3
g repack -a -d -q
g fsck --full --strict 2>&1
g count-objects -v | grep -E '^(count|in-pack|packs|size-garbage):'
g cat-file --batch-all-objects --batch-check | sort | sha256sum
g rev-list --objects --all | wc -l
