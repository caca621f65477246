# One target per suite; `scripts/test.sh` runs them all, in this order, from a fresh clone. Each target
# installs what it needs (into .tools/ and the packages' own folders) and exits non-zero on any failure.
#
#     make rust        format, lints, tests on both secp256k1 backends, benchmarks and examples build
#     make readme      every command block of README.md runs
#     make vectors     the official SDKs regenerate tests/vectors byte for byte
#     make differential  paywire against the official TypeScript and Python SDKs
#     make python      the Python package: build, lint (ruff), types (mypy, stubtest), tests, benchmark smoke run
#     make node        the npm package: build, pack, lint (biome), types, tests, benchmark smoke run
#     make kotlin      the uniffi bindings regenerated and compared, the Kotlin tests
#     make swift       the Swift tests where a Swift toolchain exists (reported NOT RUN elsewhere)
#     make devices     the firmware examples (Rust, and C on the C API) for Cortex-M4F, the C header, RISC-V
#     make e2e         the demo, then every client against every server on anvil, faults, interop
#     make fuzz        every cargo-fuzz target for PAYWIRE_FUZZ_SECONDS (default 15)
#     make lint        the linters alone (rustfmt, clippy, ruff, biome)
#     make test        everything (scripts/test.sh)
#     make demo        the end-to-end demo (scripts/demo.sh)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.SILENT:
.PHONY: test demo lint rust rust-lint readme vectors differential python python-lint node node-build node-lint \
	ffi kotlin swift devices e2e fuzz

TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
PAYWIRE_FUZZ_SECONDS ?= 15

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

lint: rust-lint python-lint node-lint

rust-lint:
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
	cargo clippy --locked -p paywire-core --no-default-features --all-targets --quiet -- -D warnings

rust: rust-lint
	cargo test --locked --workspace --quiet
	cargo test --locked -p paywire-core --no-default-features --quiet
	cargo check --locked -p paywire-core --benches --examples --quiet
	cargo run --locked --quiet -p paywire-core --example pay_and_verify
	test -s docs/benchmarks.md || { echo "docs/benchmarks.md is missing" >&2; exit 1; }

readme:
	./scripts/check-readme.sh

vectors:
	py=$$(tests/oracle/setup.sh)
	"$$py" tests/oracle/generate.py --check

differential:
	py=$$(tests/oracle/setup.sh)
	cargo build --locked --quiet -p paywire-cli
	PAYWIRE_BIN="$(TARGET_DIR)/debug/paywire" "$$py" -m pytest -q tests/differential

python-lint:
	py=$$(python/tests/setup.sh)
	"$$py" -m ruff check python tests/e2e tests/differential tests/oracle scripts

python: python-lint
	py=$$(python/tests/setup.sh)
	# As a user installs it: pip builds the wheel with maturin (pyproject.toml) and cargo (Cargo.lock).
	"$$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python
	"$$py" -m mypy --strict python/python/paywire python/examples
	(cd /tmp && "$$py" -m mypy.stubtest paywire._paywire)
	"$$py" -m pytest -q python/tests
	echo "-- the benchmarks run (smoke runs; figures in docs/benchmarks.md)"
	"$$py" python/bench/compare_official.py --quick >/dev/null
	"$$py" python/bench/gate.py --quick >/dev/null
	"$$py" python/bench/serve.py --quick >/dev/null
	"$$py" python/bench/vouchers.py --quick >/dev/null

node-build:
	# npm ci refuses this lock file (npm records @napi-rs/cli's optional per-platform packages without
	# versions), so install from it without rewriting it.
	cd node && npm install --no-save --no-audit --no-fund --loglevel=error && npm run --silent build >/dev/null
	# The WebAssembly build for browsers and edge runtimes (wasm/paywire.mjs, in the package).
	../scripts/build-wasm.sh

node-lint:
	cd node && npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
	npx --no-install biome lint --error-on-warnings lib examples test bench build wasm/native.js wasm/entry.mjs index.js index.mjs ../tests/e2e/apps ../tests/e2e/browser_pay.mjs

node: node-build node-lint
	# The loader and its types are generated; the committed ones must be what the build makes.
	git diff --exit-code -- node/native.js node/native.d.ts \
	  || { echo "node/native.js or node/native.d.ts differ from the build's: commit the regenerated files" >&2; exit 1; }
	# As a user gets it: npm pack's tarball, installed next to the official SDKs the tests compare with.
	rm -rf node/dist && mkdir node/dist && (cd node && npm pack --silent --pack-destination dist >/dev/null)
	cd node/test
	npm ci --no-audit --no-fund --loglevel=error
	npm install --no-save --no-audit --no-fund --loglevel=error ../dist/paywire-*.tgz
	node --test --test-reporter=spec
	echo "-- the benchmarks run (smoke runs; figures in docs/benchmarks.md)"
	node ../bench/compare_official.mjs --quick >/dev/null
	node ../bench/gate.mjs --quick >/dev/null
	node ../bench/serve.mjs --quick >/dev/null
	node ../bench/wasm.mjs --quick >/dev/null
	node ../bench/vouchers.mjs --quick >/dev/null

ffi:
	cargo build --locked --quiet -p paywire-ffi
	generated=$$(mktemp -d)
	scripts/generate-bindings.sh "$(TARGET_DIR)/debug/libpaywire_ffi.so" "$$generated"
	diff -r "$$generated/kotlin/dev/paywire/ffi" kotlin/src/main/kotlin/dev/paywire/ffi \
	  || { echo "the committed Kotlin bindings differ from a fresh generation: run scripts/generate-bindings.sh" >&2; exit 1; }
	for d in PaywireFFI paywire_ffiFFI; do
	  diff -r "$$generated/swift/Sources/$$d" "swift/Sources/$$d" \
	    || { echo "the committed Swift bindings differ from a fresh generation: run scripts/generate-bindings.sh" >&2; exit 1; }
	done
	rm -rf "$$generated"

kotlin: ffi
	(cd kotlin && mvn -q -B test -Dpaywire.native.dir="$(TARGET_DIR)/debug")
	python3 scripts/kotlin-summary.py kotlin/target/surefire-reports
	(cd kotlin && mvn -q -B dependency:build-classpath -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime)

swift: ffi
	if command -v swift >/dev/null 2>&1 && swift --version 2>/dev/null | grep -qi "swift version"; then
	  # The debug library is the one just checked; the package links it from PAYWIRE_LIB_DIR.
	  PAYWIRE_LIB_DIR="$(TARGET_DIR)/debug" swift test --package-path swift
	  echo "Swift: swift test passed"
	else
	  echo "Swift: tests NOT RUN (no Swift toolchain on this machine); the generated bindings were checked above"
	fi

devices:
	./scripts/devices.sh

e2e:
	# anvil and Circle's USDC from npm, Debian's redis-server and postgresql, paywire's facilitator; the Python, Node and
	# Kotlin packages built by their targets (the npm package with its WebAssembly build, paid from headless Chromium);
	# the firmware images built by `make devices`, run under QEMU.
	eval "$$(scripts/install-chain.sh)"
	eval "$$(scripts/install-redis.sh)"
	eval "$$(scripts/install-postgres.sh)"
	eval "$$(scripts/install-browser.sh)"
	py=$$(python/tests/setup.sh)
	cargo build --locked --quiet -p paywire-facilitator -p paywire-cli
	PAYWIRE_DEMO_PREBUILT=1 ./scripts/demo.sh > /tmp/paywire-demo.log 2>&1 || { cat /tmp/paywire-demo.log; exit 1; }
	grep -E '^(agent|payee) |^[0-9]+ paid requests' /tmp/paywire-demo.log | sed 's/\x1b\[[0-9;]*m//g'
	# The demo's multi-replica mode: three replicas of the paid API on one Redis behind the load balancer.
	PAYWIRE_DEMO_PREBUILT=1 PAYWIRE_DEMO_REPLICAS=3 PAYWIRE_DEMO_REQUESTS=6 ./scripts/demo.sh > /tmp/paywire-demo-replicas.log 2>&1 \
	  || { cat /tmp/paywire-demo-replicas.log; exit 1; }
	grep -E '^paid answers per replica' /tmp/paywire-demo-replicas.log
	PAYWIRE_FACILITATOR_BIN="$(TARGET_DIR)/debug/paywire-facilitator" PAYWIRE_BIN="$(TARGET_DIR)/debug/paywire" \
	  PAYWIRE_NODE_DIR="$(CURDIR)/node" PAYWIRE_NODE_TEST_DIR="$(CURDIR)/node/test" PAYWIRE_NATIVE_DIR="$(TARGET_DIR)/debug" \
	  PAYWIRE_FIRMWARE_DIR="$(TARGET_DIR)/thumbv7em-none-eabihf/release" \
	  PAYWIRE_KOTLIN_CLASSPATH="$(CURDIR)/kotlin/target/classes:$(CURDIR)/kotlin/target/test-classes:$$(cat kotlin/target/classpath.txt)" \
	  "$$py" -m pytest -q -p no:cacheprovider tests/e2e

fuzz:
	# cargo fuzz needs unstable compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them, so no
	# nightly toolchain is needed. libFuzzer itself is C++.
	if ! command -v c++ >/dev/null 2>&1; then
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then apt-get install -y -qq g++ >/dev/null; fi
	fi
	command -v c++ >/dev/null 2>&1 || { echo "no C++ compiler (libFuzzer needs one): install g++" >&2; exit 1; }
	if [ "$$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]; then
	  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
	fi
	export RUSTC_BOOTSTRAP=1
	python3 fuzz/seed_corpus.py fuzz/corpus >/dev/null
	(cd fuzz && cargo fuzz build -O >/tmp/paywire-fuzz-build.log 2>&1) || { tail -40 /tmp/paywire-fuzz-build.log; exit 1; }
	for target in $$(cd fuzz && cargo fuzz list); do
	  out=$$(cd fuzz && cargo fuzz run -O "$$target" "corpus/$$target" -- \
	    -max_total_time="$(PAYWIRE_FUZZ_SECONDS)" -rss_limit_mb=2048 2>&1) \
	    || { echo "$$out" | grep -E -A3 'panicked|ERROR|SUMMARY|Reproduce with' | cut -c1-300; echo "fuzz target $$target failed" >&2; exit 1; }
	  echo "$$target: $$(echo "$$out" | grep -Eo 'Done [0-9]+ runs' | tail -1)"
	done
