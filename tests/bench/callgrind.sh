#!/usr/bin/env bash
# Instructions per request of one worker, counted by callgrind (stable on shared machines,
# unlike hardware counters). docs/benchmarks.md reports its output.
#
#   tests/bench/callgrind.sh ferry|uwsgi APP_ARGS... 
#   e.g. tests/bench/callgrind.sh ferry --wsgi-file tests/bench/apps/hello.py
#        tests/bench/callgrind.sh uwsgi --chdir conf/server_dev --module server_dev.wsgi:application
#
# One worker under valgrind; 300 warm-up requests; counters zeroed; N (default 5000, or
# $REQUESTS) requests with build/tests/bench/loadgen ($LOADGEN); counters dumped; total / N
# printed. $FERRY_BIN picks another ferry binary (a baseline build, say). LOGGING=1 keeps
# the request log on (written to a file in the temp dir), to count what logging costs.
# The callgrind file is kept for callgrind_annotate.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.."
server=$1
shift
requests=${REQUESTS:-5000}
dir=$(mktemp -d /tmp/ferry-callgrind.XXXXXX)
sock=$dir/s.sock
case $server in
  ferry) cmd=("${FERRY_BIN:-build/ferry}") ;;
  uwsgi) cmd=(uwsgi --plugin python3 --master) ;;
  *) echo "usage: $0 ferry|uwsgi APP_ARGS..." >&2; exit 2 ;;
esac
logging=(--disable-logging)
[ "${LOGGING:-0}" = 1 ] && logging=(--logto "$dir/requests.log")
valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg.%p" \
  "${cmd[@]}" --socket "$sock" --processes 1 "${logging[@]}" --pidfile "$dir/pid" "$@" >"$dir/out.log" 2>&1 &
for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.2; done
[ -S "$sock" ] || { echo "the server did not start; see $dir/out.log" >&2; exit 1; }
sleep 3
master=$(cat "$dir/pid")
worker=$(pgrep -P "$master" | head -1)
loadgen=${LOADGEN:-build/tests/bench/loadgen}
"$loadgen" --uwsgi "$sock" -c 2 -n 300 >/dev/null
callgrind_control -z "$worker" >/dev/null
"$loadgen" --uwsgi "$sock" -c 2 -n "$requests" | sed -n 2p
callgrind_control -d "$worker" >/dev/null
sleep 1
kill -INT "$master"
wait || true
file=$(ls "$dir/cg.$worker".* | head -1)
total=$(awk '/^summary:/ {print $2; exit}' "$file")
echo "$server: $((total / requests)) instructions per request (callgrind_annotate $file)"
