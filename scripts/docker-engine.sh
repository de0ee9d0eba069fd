#!/usr/bin/env bash
# A throwaway Docker engine for memfix's Docker tests (CI, or a dev box without one).
#
#   scripts/docker-engine.sh start   # install docker.io if needed, start dockerd, build images
#   scripts/docker-engine.sh stop    # remove memfix containers, stop the dockerd we started
#
# Never fails the caller: if Docker cannot be set up it says why and exits 0, and the
# Docker tests then skip with a reason. Images are built locally from the server
# binaries this machine has (`python -m memfix.servers.docker build`); nothing is pulled.
# The daemon only binds published ports to 127.0.0.1 (--ip); memfix containers use
# host networking and listen on 127.0.0.1 anyway.
#
# Environment: PYTHON (default python3) runs memfix; MEMFIX_DOCKERD_DIR (default
# /tmp/memfix-dockerd) holds dockerd.pid and dockerd.log.
set -u

STATE_DIR="${MEMFIX_DOCKERD_DIR:-/tmp/memfix-dockerd}"
PYTHON="${PYTHON:-python3}"
SOCKET=/var/run/docker.sock
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
export DOCKER_HOST="unix://$SOCKET"

say() { echo "docker-engine: $*" >&2; }
give_up() { say "$*; Docker tests will be skipped"; exit 0; }
engine_up() { timeout 5 docker info >/dev/null 2>&1; }

build_images() {
    say "building memfix images with $PYTHON"
    if ! "$PYTHON" -m memfix.servers.docker build; then
        say "image build failed; Docker tests will be skipped"
    fi
}

start() {
    if command -v docker >/dev/null 2>&1 && engine_up; then
        say "an engine already answers on $SOCKET"
        build_images
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        give_up "no engine answers and starting dockerd needs root"
    fi
    mkdir -p "$STATE_DIR"
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        say "installing Debian's docker.io"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io; } \
            >"$STATE_DIR/apt.log" 2>&1 || give_up "apt-get install docker.io failed (see $STATE_DIR/apt.log)"
    fi
    if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        say "dockerd $(cat "$PID_FILE") from an earlier start is still running"
    else
        nohup dockerd --host="unix://$SOCKET" --ip=127.0.0.1 >"$LOG_FILE" 2>&1 &
        echo $! >"$PID_FILE"
    fi
    local deadline=$((SECONDS + 60))
    until engine_up; do
        if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
            tail -n 5 "$LOG_FILE" >&2
            rm -f "$PID_FILE"
            give_up "dockerd exited (log: $LOG_FILE)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            stop
            give_up "dockerd did not answer within 60 s (log: $LOG_FILE)"
        fi
        sleep 0.2
    done
    say "dockerd $(cat "$PID_FILE") is up (log: $LOG_FILE)"
    build_images
}

stop() {
    if command -v docker >/dev/null 2>&1 && engine_up; then
        docker ps -aq --filter label=memfix=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
    fi
    if [ ! -f "$PID_FILE" ]; then
        say "no dockerd started by this script ($PID_FILE missing)"
        return 0
    fi
    local pid
    pid="$(cat "$PID_FILE")"
    if kill "$pid" 2>/dev/null; then
        local deadline=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        say "stopped dockerd $pid"
    fi
    rm -f "$PID_FILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
exit 0
