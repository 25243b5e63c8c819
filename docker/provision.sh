#!/bin/sh
# compose's one-shot `provision` service: creates the CA, the motes' and the client's
# certificates and keys, the redirect key and the three configurations once, in the volume
# that every other service mounts at /var/lib/lowpan. Keys are made here, at run time, never
# baked into the image.
set -eu
dir=/var/lib/lowpan
if [ ! -e "$dir/done" ]; then
  lowpan-provision --out "$dir/prov" --force --kinds delegated,dcert,cdpsk --iotssp remote \
    --prefix fd00:aaaa::/64 --radio tcp:motesim:60001
  touch "$dir/done"
fi
echo "provision: configurations, certificates and keys in $dir/prov"
