#!/usr/bin/env bash
# Drives the simulator with HighLevel's official JS SDK (tests/sdk/sdk_check.js).
#
#   BUILD=build/rel bash tests/sdk/run.sh
#
# Installs @gohighlevel/api-client with npm into build/sdk (the npm registry must be reachable;
# exit 3 without running anything when it is not, so callers can tell "could not check" from
# "checked and failed"). Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
sdkdir=$PWD/build/sdk
command -v node >/dev/null && command -v npm >/dev/null || { echo "sdk-check: node/npm not installed"; exit 3; }
if [ ! -d "$sdkdir/node_modules/@gohighlevel/api-client" ]; then
    mkdir -p "$sdkdir"
    [ -f "$sdkdir/package.json" ] || echo '{"name":"ghlsync-sdk-check","private":true}' >"$sdkdir/package.json"
    if ! (cd "$sdkdir" && timeout 300 npm install --no-audit --no-fund --silent @gohighlevel/api-client@3.1.0 >/dev/null 2>&1); then
        echo "sdk-check: cannot install @gohighlevel/api-client from npm"; exit 3
    fi
fi
echo "sdk-check: @gohighlevel/api-client $(node -p "require('$sdkdir/node_modules/@gohighlevel/api-client/package.json').version")"

out=$(mktemp); trap 'kill $simpid 2>/dev/null; rm -f "$out"' EXIT
"$BUILD/hlsim" --port 0 --seed-records 40 --seed-contacts 60 --seed-opportunities 45 >"$out" &
simpid=$!
for _ in $(seq 100); do grep -q '^admin-token' "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127.0.0.1://p' "$out")
admin=$(awk '/^admin-token/{print $2}' "$out")
read -r _ loc _ tok _ refresh < <(grep '^location' "$out" | sed -n 1p)
read -r _ _ _ tok2 _ _ < <(grep '^location' "$out" | sed -n 2p)
[ -n "$port" ] && [ -n "$tok2" ] || { echo "sdk-check: simulator did not start"; cat "$out"; exit 1; }
NODE_PATH=$sdkdir/node_modules node tests/sdk/sdk_check.js "http://127.0.0.1:$port" "$admin" "$loc" "$tok" "$refresh" "$tok2"
