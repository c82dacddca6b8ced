#!/bin/sh
# Runs a command inside a fresh network namespace that holds only this machine's own test hosts:
# loopback, plus a veth pair 10.77.0.1 <-> 10.77.0.2 so that WebRTC (which skips loopback) has host
# candidates. Nothing started inside can reach any other address.
# Where no namespace can be made, it says so in one line and runs the command with WebRTC off.
# Usage: sh test/netns.sh <command> [args...]
if [ -n "$MEGACHAT_IN_NETNS" ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then flags=-n; else flags=-rn; fi
setup='ip link set lo up &&
  ip link add va type veth peer name vb &&
  ip addr add 10.77.0.1/24 dev va && ip addr add 10.77.0.2/24 dev vb &&
  ip link set va up && ip link set vb up'
if unshare $flags sh -c "$setup" >/dev/null 2>&1; then
  export MEGACHAT_IN_NETNS=1
  exec unshare $flags sh -c "$setup && exec \"\$@\"" netns "$@"
fi
echo "netns: no network namespace could be made here; running on loopback with WebRTC off" >&2
export MEGACHAT_NO_WEBRTC=1 MEGACHAT_IN_NETNS=none
exec "$@"
