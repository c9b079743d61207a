# Throwaway PostgreSQL and Redis on loopback, shared by scripts/with-services and
# scripts/run-production. Source it, then:
#   services_init           checks the Debian packages, makes $RUN_DIR (a fresh temporary folder)
#   services_start_pg PORT  initdb, start, create the database "bananasite"; sets DATABASE_URL
#   services_start_redis PORT   sets REDIS_URL
#   services_stop           stops both (if started) and removes $RUN_DIR; safe to call twice
# Needs Debian's postgresql and redis-server (scripts/system-packages installs them).

services_init() {
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)." >&2; return 1; }
  command -v redis-server >/dev/null || { echo "Redis is not installed (apt-get install redis-server)." >&2; return 1; }
  RUN_DIR=$(mktemp -d /tmp/bananasite-services.XXXXXX)
  chmod 755 "$RUN_DIR"
}

_as_pg() {
  # initdb refuses to run as root: run PostgreSQL as the postgres user when we are root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start_pg() {
  local port=$1
  mkdir "$RUN_DIR/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$RUN_DIR/pg"; fi
  _as_pg "$PGBIN/initdb" -D "$RUN_DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  _as_pg "$PGBIN/pg_ctl" -D "$RUN_DIR/pg" -l "$RUN_DIR/pg/server.log" -w \
    -o "-p $port -k $RUN_DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres bananasite
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/bananasite"
}

services_start_redis() {
  local port=$1
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$port/0"
}

services_stop() {
  [ -n "${RUN_DIR:-}" ] && [ -d "$RUN_DIR" ] || return 0
  if [ -f "$RUN_DIR/redis.pid" ]; then kill "$(cat "$RUN_DIR/redis.pid")" 2>/dev/null || true; fi
  if [ -f "$RUN_DIR/pg/postmaster.pid" ]; then
    _as_pg "$PGBIN/pg_ctl" -D "$RUN_DIR/pg" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$RUN_DIR"
}
