#!/usr/bin/env bash
# Installs what the exchange needs on this machine, and only what is missing:
#   - Debian packages: PostgreSQL, Redis, Java 17 and Maven (for the Kafka broker),
#     libfaketime (the fault tests' clock steps), Prometheus and promtool (the local
#     monitoring `exchange up` starts on loopback, and the alert rules' tests)
#   - Apache Kafka's broker jars from Maven Central into .local/kafka-libs
#   - the Python virtualenv .venv with the project and its test tools
#   - checkov (the CloudFormation security scanner) in its own virtualenv under
#     .local/tools, since it pins an older boto3 than the project's
#   - kustomize, only where kubectl (which carries it) is missing
#   - Toxiproxy's server (the network fault tests' TCP proxy) into .local/bin
#   - the compiled order book (matching_cluster/engine_rs, Rust) into .venv, with maturin
# Idempotent, and quiet when everything is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
STAMPS="$ROOT/.local/stamps"
mkdir -p "$STAMPS"

say() { echo "install: $*"; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

has_package() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

has_java17() {
  command -v java >/dev/null && java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'
}

install_debian_packages() {
  local missing=()
  has_package postgresql || missing+=(postgresql)
  has_package redis-server || missing+=(redis-server)
  # libfaketime: the fault tests step the matcher's wall clock (LD_PRELOAD).
  has_package libfaketime || missing+=(libfaketime)
  # prometheus: the server `exchange up` runs on loopback, and promtool for the rules.
  has_package prometheus || missing+=(prometheus)
  # Java and Maven may come from elsewhere (a JDK, SDKMAN); accept those.
  has_java17 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  # Node.js 20 and npm: the web app's build and unit tests (web/).
  command -v npm >/dev/null || missing+=(nodejs npm)
  # Chromium: the web app's end-to-end tests drive it through playwright-core.
  command -v chromium >/dev/null || missing+=(chromium)
  [ "${#missing[@]}" -eq 0 ] && return
  say "installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  # RUNLEVEL=1 keeps the packages from starting their own system-wide services.
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's prometheus package declares a system-wide server listening on :9090 on every
# interface. The exchange starts its own, on loopback: keep the system one stopped and
# out of the boot sequence.
disable_system_prometheus() {
  if [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
    say "stopping the system-wide Prometheus service (it listens on every interface)"
    sudo_if_needed /etc/init.d/prometheus stop >/dev/null
  fi
  if command -v systemctl >/dev/null \
      && [ "$(systemctl is-enabled prometheus 2>/dev/null)" = "enabled" ]; then
    say "disabling the system-wide Prometheus service"
    sudo_if_needed systemctl disable prometheus >/dev/null 2>&1
  fi
}

install_kafka_jars() {
  local pom="$ROOT/opscli/kafka/pom.xml" libs="$ROOT/.local/kafka-libs"
  local stamp
  stamp="$STAMPS/kafka-$(sha256sum "$pom" | cut -c1-16)"
  [ -f "$stamp" ] && ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1 && return
  say "resolving the Kafka broker jars with Maven"
  rm -rf "$libs"
  mvn -q -B -f "$pom" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  touch "$stamp"
}

# bench/exchange_core builds its jar when first run; fetching what Maven needs for that
# here lets the engine comparison build offline later.
install_exchange_core_bench_deps() {
  local pom="$ROOT/bench/exchange_core/pom.xml" stamp
  stamp="$STAMPS/exchange-core-bench-$(sha256sum "$pom" | cut -c1-16)"
  [ -f "$stamp" ] && return
  say "fetching the exchange-core benchmark's Maven dependencies"
  mvn -q -B -f "$pom" dependency:go-offline
  touch "$stamp"
}

install_python_env() {
  local stamp
  stamp="$STAMPS/venv-$(cat pyproject.toml | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && [ -x .venv/bin/python ] && return
  if [ ! -x .venv/bin/python ]; then
    say "creating the virtualenv .venv"
    "$PYTHON" -m venv .venv
  fi
  say "installing the project and its test tools into .venv"
  .venv/bin/python -m pip install -q -e ".[test,deploy]"
  touch "$stamp"
}

CHECKOV_VERSION="3.3.30"
install_checkov() {
  local venv="$ROOT/.local/tools/checkov"
  [ -x "$venv/bin/checkov" ] && [ -f "$STAMPS/checkov-$CHECKOV_VERSION" ] && return
  say "installing checkov $CHECKOV_VERSION into .local/tools/checkov"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q "checkov==$CHECKOV_VERSION"
  touch "$STAMPS/checkov-$CHECKOV_VERSION"
}

KUSTOMIZE_VERSION="v5.5.0"
install_kustomize() {
  command -v kubectl >/dev/null && return
  [ -x "$ROOT/.local/tools/bin/kustomize" ] && return
  say "installing kustomize $KUSTOMIZE_VERSION with Go into .local/tools/bin"
  GOBIN="$ROOT/.local/tools/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
}

TOXIPROXY_VERSION="v2.5.0"
install_toxiproxy() {
  local bin="$ROOT/.local/bin/toxiproxy-server" build
  go version -m "$bin" 2>/dev/null \
    | grep -qE "^\s+mod\s+github.com/Shopify/toxiproxy/v2\s+$TOXIPROXY_VERSION\s" && return
  say "building Toxiproxy's server $TOXIPROXY_VERSION with Go into .local/bin"
  # go install names the binary after its package folder (server): built aside, renamed.
  build="$(mktemp -d)"
  GOBIN="$build" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mkdir -p "$(dirname "$bin")"
  mv "$build/server" "$bin"
  rmdir "$build"
}

# The compiled order book: a Rust crate built by maturin into .venv (cargo from rustup's
# ~/.cargo/bin or Debian). Rebuilt only when a source of the crate is newer than the
# module built from it.
install_compiled_engine() {
  local crate="$ROOT/matching_cluster/engine_rs" built
  built="$(ls "$ROOT"/.venv/lib/python3*/site-packages/matching_cluster_engine_rs/*.so \
    2>/dev/null | head -n 1 || true)"
  if [ -n "$built" ] && [ -z "$(find "$crate" -path "$crate/target" -prune -o -type f \
      \( -name '*.rs' -o -name 'Cargo.*' -o -name pyproject.toml -o -name '*.pyi' \) \
      -newer "$built" -print)" ]; then
    return
  fi
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null; then
    say "installing Debian packages: cargo rustc"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends cargo rustc >/dev/null
  fi
  # Cargo.lock version 4 and the crate's dependencies need Rust 1.78 or later (Debian
  # bookworm ships 1.63: install a current toolchain with rustup there).
  local version
  version="$(cargo --version | awk '{print $2}')"
  if [ "$(printf '%s\n1.78.0\n' "$version" | sort -V | head -n 1)" != "1.78.0" ]; then
    say "cargo $version is too old for matching_cluster/engine_rs: Rust 1.78 or later needed"
    return 1
  fi
  [ -x .venv/bin/maturin ] || .venv/bin/python -m pip install -q "maturin>=1.5,<2"
  say "building the compiled order book (matching_cluster/engine_rs) into .venv"
  (cd "$crate" && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" \
    "$ROOT/.venv/bin/maturin" develop --release -q)
}

# The web app's packages, exactly as package-lock.json pins them; skipped while the
# installed tree was made from the same lock file.
install_web_packages() {
  local lock stamp=web/node_modules/.installed-from-lock
  lock="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock" ] && return
  say "installing the web app's npm packages (web/, from package-lock.json)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock" > "$stamp"
}

# The built app `exchange up` serves (web/dist), rebuilt only when its sources or
# packages changed.
build_web_app() {
  local sources stamp=web/dist/.built-from
  sources="$(cd web && find src index.html vite.config.ts tsconfig.json package-lock.json \
    -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sources" ] && return
  say "building the web app (web/dist)"
  (cd web && npm run build --silent >/dev/null)
  echo "$sources" > "$stamp"
}

install_debian_packages
disable_system_prometheus
install_kafka_jars
install_exchange_core_bench_deps
install_python_env
install_compiled_engine
install_checkov
install_kustomize
install_toxiproxy
install_web_packages
build_web_app
