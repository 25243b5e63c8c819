#!/bin/sh
# Waits for the `provision` service's files, then runs the command given: compose.yaml starts
# the others once provision has completed, but a compose that only orders the starts, or a
# service started on its own, may come first.
i=0
while [ ! -e /var/lib/lowpan/done ]; do
  i=$((i + 1))
  [ "$i" -lt 600 ] || { echo "no provisioned files in /var/lib/lowpan after 60 s" >&2; exit 1; }
  sleep 0.1
done
exec "$@"
