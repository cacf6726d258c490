#!/usr/bin/env bash
# Fails when a control-plane process started by the tests is still running:
# every testenv directory name starts with flotilla-testenv-, and every child
# process carries its directory in its command line.
set -euo pipefail
left=$(pgrep -af -- 'flotilla-testenv-' | grep -v -e pgrep -e check-orphans || true)
if [ -n "$left" ]; then
  echo "processes left behind by the tests:" >&2
  echo "$left" >&2
  exit 1
fi
echo "no test control-plane processes left behind"
