#!/bin/sh
# Waits for the `provision` service (compose's depends_on only orders the starts), then runs
# the command given.
i=0
while [ ! -e /var/lib/lowpan/done ]; do
  i=$((i + 1))
  [ "$i" -lt 600 ] || { echo "no provisioned files in /var/lib/lowpan after 60 s" >&2; exit 1; }
  sleep 0.1
done
exec "$@"
