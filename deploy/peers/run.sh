#!/usr/bin/env bash
# deploy/peers/run.sh: protocol peers written in other languages, run against a live platform.
#
#   GATEWAY_ADDR=127.0.0.1:50051 TOKEN=demo-gz-th deploy/peers/run.sh
#
# Installs the pinned Python packages (deploy/peers/requirements.txt) into a virtualenv under
# $HOTLINE_STATE (default <repo>/.hotline), then runs department.py, a department's system that
# subscribes to the gateway over gRPC, acks, accepts, replies and completes (EXPECT tickets,
# default 1, within WAIT_SECS, default 60), after reflection.py has listed the gateway's services
# with grpcio's own reflection client (v1alpha). Exits non-zero on any failure.
#
# Without GATEWAY_ADDR it starts a platform of its own and runs the Open311 client peer
# (open311_client.py, PyPI georeport) and the OpenID Connect client peer (identity_client.py,
# PyPI PyJWT: password grant, code + PKCE, refresh, all verified against the JWKS) against it
# as well, and WeChat's servers (wechat_client.py, PyPI wechatpy's crypto: safe-mode messages
# repeated three times, replies decrypted and verified), and a citizen in headless Chromium
# (web_page.py, PyPI selenium with Debian's chromium + chromium-driver, installed here when
# /usr/bin/chromedriver is missing) on the web page: a report with a photo, its receipt, its
# progress by ticket number and the phone's last 4 digits; and a citizen's mail client
# (email_client.py, Python's smtplib + email: a GB18030 mail, the auto-reply caught at the relay);
# and the centre's people in the same browser on the web console (console.py: sign-in at the
# identity service, the manual queue, the department portal, the agent desk, the supervisor's
# board, report and hotspots, at 1366x768 and tablet sizes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

state="${HOTLINE_STATE:-$PWD/.hotline}"
venv="$state/peers-venv"
stamp="$venv/.requirements"
if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$state"
    python3 -m venv "$venv"
fi
# Reinstall only when the pins changed.
if ! cmp -s deploy/peers/requirements.txt "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r deploy/peers/requirements.txt
    cp deploy/peers/requirements.txt "$stamp"
fi

if [[ -n "${GATEWAY_ADDR:-}" ]]; then
    # A platform is already running: act as that department only.
    export GATEWAY_ADDR TOKEN="${TOKEN:-demo-gz-th}"
    "$venv/bin/python" deploy/peers/reflection.py
    exec "$venv/bin/python" deploy/peers/department.py
fi

# The web page's browser test drives Debian's Chromium and its driver (never a downloaded
# browser). CI runs as root; elsewhere sudo is used when there is one.
if [[ ! -x /usr/bin/chromedriver ]]; then
    sudo=""
    if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null; then sudo="sudo"; fi
    echo "peers: installing chromium and chromium-driver (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null \
        || { $sudo apt-get update >/dev/null \
            && $sudo apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null; }
fi

# No platform given: start one of our own (fresh namespace, database and ports, so it meets
# nothing else on this NATS/Postgres), then run both peers against it: the Open311 client files
# a ticket in Tianhe, the department system (Tianhe's) works it over gRPC, the client sees it
# closed with the reply.
: "${DATABASE_URL:?DATABASE_URL must be set (deploy/services.sh env)}"
cargo build --quiet --bin hotline
bin="${CARGO_TARGET_DIR:-target}/debug/hotline"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
id="peers$(date +%s)$$"
db="${DATABASE_URL%/*}/$id"
psql "$DATABASE_URL" -qc "CREATE DATABASE $id" >/dev/null
export DATABASE_URL="$db" HOTLINE__NAMESPACE="$id"
export HOTLINE__INTAKE__PORT="$(free_port)" HOTLINE__TICKETS__PORT="$(free_port)" HOTLINE__DISPATCH__PORT="$(free_port)"
export HOTLINE__GATEWAY__PORT="$(free_port)" HOTLINE__GATEWAY__GRPC_PORT="$(free_port)"
export HOTLINE__IDENTITY__PORT="$(free_port)" HOTLINE__WECHAT__PORT="$(free_port)"
# Every port of `all`, so a platform already running here (the local demo) is not in the way.
export HOTLINE__KNOWLEDGE__PORT="$(free_port)" HOTLINE__SLA__PORT="$(free_port)" HOTLINE__PHONE__PORT="$(free_port)"
# The web console (its sign-in callback follows its port: [console] public_url is derived), and
# the survey API its supervisor's board reads (at the default port it could be another
# platform's, refusing this one's tokens), the app's, SMS's and notify's.
export HOTLINE__CONSOLE__PORT="$(free_port)" HOTLINE__SURVEY__PORT="$(free_port)"
export HOTLINE__APP__PORT="$(free_port)" HOTLINE__SMS__PORT="$(free_port)" HOTLINE__NOTIFY__PORT="$(free_port)"
# The email channel's SMTP and HTTP ports, and the relay its auto-replies go to: email_client.py
# listens there as the relay.
email_sink_port="$(free_port)"
export HOTLINE__EMAIL__PORT="$(free_port)" HOTLINE__EMAIL__HTTP_PORT="$(free_port)"
export HOTLINE__EMAIL__RELAY_HOST=127.0.0.1 HOTLINE__EMAIL__RELAY_PORT="$email_sink_port"
export HOTLINE__IDENTITY__ISSUER="http://127.0.0.1:$HOTLINE__IDENTITY__PORT"
# The issuer the console signs people in at and every API verifies their tokens against (its
# default is the identity service's default port: nothing there, or another platform's).
export HOTLINE__AUTH__ISSUER="$HOTLINE__IDENTITY__ISSUER"
log="$state/peers-platform.log"
RUST_LOG=warn "$bin" all --demo >"$log" 2>&1 &
platform=$!
cleanup() { kill "$platform" 2>/dev/null || true; wait "$platform" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$HOTLINE__INTAKE__PORT/open311/v2/services.json" >/dev/null 2>&1 \
        && curl -fs "http://127.0.0.1:$HOTLINE__GATEWAY__PORT/readyz" >/dev/null 2>&1 \
        && curl -fs "$HOTLINE__IDENTITY__ISSUER/readyz" >/dev/null 2>&1 \
        && curl -fs "http://127.0.0.1:$HOTLINE__WECHAT__PORT/readyz" >/dev/null 2>&1 \
        && curl -fs "http://127.0.0.1:$HOTLINE__EMAIL__HTTP_PORT/readyz" >/dev/null 2>&1 \
        && curl -fs "http://127.0.0.1:$HOTLINE__CONSOLE__PORT/readyz" >/dev/null 2>&1; then
        break
    fi
    kill -0 "$platform" 2>/dev/null || { cat "$log"; echo "peers: the platform exited"; exit 1; }
    sleep 0.2
done

IDENTITY_BASE="$HOTLINE__IDENTITY__ISSUER" "$venv/bin/python" deploy/peers/identity_client.py
WECHAT_URL="http://127.0.0.1:$HOTLINE__WECHAT__PORT/wechat" "$venv/bin/python" deploy/peers/wechat_client.py
GATEWAY_ADDR="127.0.0.1:$HOTLINE__GATEWAY__GRPC_PORT" "$venv/bin/python" deploy/peers/reflection.py
GATEWAY_ADDR="127.0.0.1:$HOTLINE__GATEWAY__GRPC_PORT" TOKEN=demo-gz-th EXPECT=1 WAIT_SECS=60 \
    "$venv/bin/python" deploy/peers/department.py &
department=$!
OPEN311_BASE="http://127.0.0.1:$HOTLINE__INTAKE__PORT/open311/v2" API_KEY=demo-open311-key WAIT_SECS=60 \
    "$venv/bin/python" deploy/peers/open311_client.py
wait "$department"
# After the department peer too: a mail's ticket has no matter code and waits in the manual queue.
SMTP_PORT="$HOTLINE__EMAIL__PORT" SINK_PORT="$email_sink_port" \
    OPEN311_BASE="http://127.0.0.1:$HOTLINE__INTAKE__PORT/open311/v2" WAIT_SECS=60 \
    "$venv/bin/python" deploy/peers/email_client.py
# After the department peer: its ticket count is not disturbed (this ticket goes to Haizhu anyway).
WEB_URL="http://127.0.0.1:$HOTLINE__INTAKE__PORT/" "$venv/bin/python" deploy/peers/web_page.py
# The web console in Chromium, every role: mails' tickets dispatched from the manual queue by
# dispatcher1, accepted, replied and completed by Tianhe's th-staff1 (and an extension asked
# for), a knowledge item edited and submitted by th-staff1 and published by the centre's
# kb-centre1, a call answered on the spot at agent1's desk and its ticket found by the ticket
# search, supervisor1's board (the extension
# approved), report (CSV, PDF) and hotspot map; the main screens at tablet sizes too
# (screenshots: SCREENSHOTS=dir).
CONSOLE_URL="http://127.0.0.1:$HOTLINE__CONSOLE__PORT" SMTP_PORT="$HOTLINE__EMAIL__PORT" \
    PHONE_URL="http://127.0.0.1:$HOTLINE__PHONE__PORT" KNOWLEDGE_URL="http://127.0.0.1:$HOTLINE__KNOWLEDGE__PORT" \
    OPEN311_BASE="http://127.0.0.1:$HOTLINE__INTAKE__PORT/open311/v2" \
    "$venv/bin/python" deploy/peers/console.py
echo "peers: ok (Python georeport Open311 client, Python grpcio department system, PyJWT OIDC client, wechatpy WeChat server, Selenium + Chromium citizen on the web page and staff on the console, smtplib mail client)"
