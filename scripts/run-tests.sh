#!/bin/sh
# Runs each cmocka test binary given, in order, from the repository root.
# Every binary runs even when an earlier one fails; the exit status is 1
# when any failed. Output ends with the last binary's cmocka summary.
failed=0
for t in "$@"; do
    echo "=== $t"
    if ! "$t"; then
        failed=1
        echo "=== FAILED: $t" >&2
    fi
done
exit $failed
