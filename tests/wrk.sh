# Sourced by tests/run and bench/run: wrk (Debian package) loads the HTTP API from a second process.
if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk is not installed; installing the Debian wrk package" >&2
  (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null))
fi
