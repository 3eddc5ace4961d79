# Sourced by tests/run and bench/run: starts a private PostgreSQL for this run and stops it on exit.
# As root it runs as the postgres user (PostgreSQL refuses root), on a free port, in a temporary directory.
# Sets JOBSTORE_TEST_DATABASE_URL. Needs $python (a Python to find a free port with).
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ]; then
  echo "PostgreSQL is not installed; installing the Debian postgresql package" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
pg_dir=$(mktemp -d /tmp/jobstore-pg.XXXXXX)
chmod 777 "$pg_dir"
pg_port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_pg() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_pg EXIT
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -l "$pg_dir/log" \
  -o "-k $pg_dir -p $pg_port -c listen_addresses=127.0.0.1 -c max_connections=300 ${PG_EXTRA_OPTIONS:-}" start >/dev/null
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres jobstore_test
export JOBSTORE_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/jobstore_test"
export JOBSTORE_TEST_SOCKET_DIR="$pg_dir"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $pg_port ($pg_dir)" >&2
