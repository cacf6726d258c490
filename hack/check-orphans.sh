#!/usr/bin/env bash
# Fails when a control-plane process started by a test run is still running.
# Every testenv directory lives under the run's TMPDIR (given as $1) and every
# child process carries its directory in its command line, so processes of
# other runs on the same machine are not mistaken for ours.
set -euo pipefail
marker=${1:?usage: check-orphans.sh RUN_TMPDIR}
left=$(pgrep -af -- "$marker/flotilla-testenv-" | grep -v -e pgrep -e check-orphans || true)
if [ -n "$left" ]; then
  echo "processes left behind by the tests:" >&2
  echo "$left" >&2
  exit 1
fi
echo "no test control-plane processes left behind"
