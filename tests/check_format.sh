#!/bin/sh
# Fails if a C++ file of the checkout is not laid out as .clang-format says. Run by
# `meson test` (as "clang-format") when clang-format is installed. To fix:
#   clang-format -i $(git ls-files '*.cpp' '*.hpp')
set -eu
root="$1"
clang_format="$2"
cd "$root"
if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
  files=$(git ls-files '*.cpp' '*.hpp')
else
  files=$(find src tests -name '*.cpp' -o -name '*.hpp')
fi
# shellcheck disable=SC2086  # one argument per file
exec "$clang_format" --style=file --dry-run --Werror $files
