#!/usr/bin/env bash
# A stand-in for signal-cli in Pyra's tests (written by SignalMock::shim): relays stdio to
# the signal-cli mock on 127.0.0.1:PORT. It first sends "#argv ARGS" and "#pid PID"; from
# the mock, "#stderr TEXT" goes to stderr and "#exit N" ends it with N; the end of stdin is
# sent as "#eof"; a connection the mock drops ends it with 1 (signal-cli died).
exec 3<>/dev/tcp/127.0.0.1/PORT || exit 70
{ printf '#argv'; printf ' %s' "$@"; printf '\n#pid %s\n' "$$"; } >&3
exec 4<&0 5>&1 0</dev/null 1>/dev/null
relay() {
  local line
  while IFS= read -r line <&3 || [[ -n $line ]]; do
    case $line in
      '#stderr '*) printf '%s\n' "${line#'#stderr '}" >&2 ;;
      '#exit '*) exit "${line#'#exit '}" ;;
      *) printf '%s\n' "$line" >&5 || exit 1 ;;
    esac
  done
  exit 1
}
relay 4<&- &
out=$!
cat <&4 >&3 5>&- &
in=$!
exec 4<&- 5>&-
wait -n
code=$?
if kill -0 "$in" 2>/dev/null; then
  kill "$in" 2>/dev/null
  exit "$code"
fi
printf '#eof\n' >&3 2>/dev/null
wait "$out"
