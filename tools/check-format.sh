#!/usr/bin/env bash
# tools/check-format.sh [CLANG_FORMAT]: fails (listing the files) if any C++ source or header of
# the repository differs from what clang-format makes of it (the repo's .clang-format). The
# generated single header is left out: tools/amalgamate.py writes it from formatted headers.
# `tools/check-format.sh --fix` formats them in place instead.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fix=0
cf=clang-format
for a in "$@"; do
    if [[ $a == --fix ]]; then fix=1; else cf="$a"; fi
done
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
        '*.hpp' '*.cpp' '*.h' '*.cc' ':!single_include/*' | while read -r f; do [[ -f $f ]] && echo "$f"; done)
else
    mapfile -t files < <(find include tests examples bench cmake tools -name '*.[ch]pp' -o -name '*.h')
fi
[[ ${#files[@]} -gt 0 ]] || { echo "check-format: no files found"; exit 1; }
if [[ $fix == 1 ]]; then
    "$cf" -i "${files[@]}"
    exit
fi
bad=()
for f in "${files[@]}"; do
    "$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [[ ${#bad[@]} -gt 0 ]]; then
    echo "check-format: ${#bad[@]} file(s) differ from clang-format (tools/check-format.sh --fix):"
    printf '  %s\n' "${bad[@]}"
    "$cf" --dry-run "${bad[0]}" 2>&1 | head -20
    exit 1
fi
echo "check-format: ${#files[@]} files formatted"
