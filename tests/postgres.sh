# Sourced by tests/run and bench/run: starts a private PostgreSQL for this run and stops it on exit.
# As root it runs as the postgres user (PostgreSQL refuses root), on a free port, in a temporary directory.
# Beside the primary runs a hot standby, streaming from it asynchronously, on a second free port (unless PG_STANDBY=off).
# Sets JOBSTORE_TEST_DATABASE_URL and JOBSTORE_TEST_STANDBY_URL. Needs $python (a Python to find free ports with).
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ]; then
  echo "PostgreSQL is not installed; installing the Debian postgresql package" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
pg_dir=$(mktemp -d /tmp/jobstore-pg.XXXXXX)
chmod 777 "$pg_dir"
read -r pg_port standby_port < <("$python" -c '
import socket
sockets = [socket.socket() for _ in range(2)]  # held together, so that the two ports differ
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_pg() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/standby" -m immediate stop >/dev/null 2>&1 || true
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_pg EXIT
# initdb's trust authentication covers replication connections too (pg_hba.conf: host replication all 127.0.0.1/32).
# A standby needs max_connections at least the primary's, so both servers get the same options.
pg_options="-k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 ${PG_EXTRA_OPTIONS:-}"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -l "$pg_dir/log" -o "$pg_options -p $pg_port \
  -c wal_level=replica -c max_wal_senders=10" start >/dev/null
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres jobstore_test
# PG_STANDBY=off: no standby (the bench: its parts measure the primary alone, and its standby part makes a cluster
# of its own).
if [ "${PG_STANDBY:-on}" = on ]; then
  # The standby is copied after createdb, so that it has the database. Its replication slot keeps on the primary
  # the WAL it has not received yet, however far behind it falls.
  as_pg "$pg_bin/pg_basebackup" -D "$pg_dir/standby" -d "host=127.0.0.1 port=$pg_port user=postgres \
    application_name=standby" -R -C -S standby -X stream -c fast --no-sync
  # hot_standby_feedback: the primary's vacuum keeps rows that a standby query still reads, instead of the replay
  # cancelling the query. That leaves the locks of DROP SCHEMA and the like: the replay waits up to
  # max_standby_streaming_delay for a standby query holding a conflicting lock, then cancels it. 30 s spares any test
  # query; -1 (wait for ever) would let one transaction left open on the standby stop its replay for the whole run.
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/standby" -w -l "$pg_dir/standby.log" -o "$pg_options -p $standby_port \
    -c hot_standby=on -c hot_standby_feedback=on -c max_standby_streaming_delay=30s" start >/dev/null
  in_recovery() {
    as_pg "$pg_bin/psql" -XAtq -h 127.0.0.1 -p "$standby_port" -U postgres -d jobstore_test \
      -c 'SELECT pg_is_in_recovery()' 2>/dev/null
  }
  for _ in $(seq 300); do [ "$(in_recovery)" = t ] && break; sleep 0.1; done
  if [ "$(in_recovery)" != t ]; then
    echo "The PostgreSQL standby on port $standby_port is not a hot standby after 30 s:" >&2
    tail -n 20 "$pg_dir/standby.log" >&2
    exit 1
  fi
  export JOBSTORE_TEST_STANDBY_URL="postgresql://postgres@127.0.0.1:$standby_port/jobstore_test"
fi
export JOBSTORE_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/jobstore_test"
export JOBSTORE_TEST_SOCKET_DIR="$pg_dir"
pg_version=$("$pg_bin/postgres" --version | awk '{print $3}')
echo "PostgreSQL $pg_version on port $pg_port ($pg_dir/data)" >&2
if [ "${PG_STANDBY:-on}" = on ]; then
  echo "PostgreSQL $pg_version hot standby of it on port $standby_port ($pg_dir/standby)" >&2
fi
