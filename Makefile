# apsql — the two commands of the README are `make demo` and `make test`.
GO       ?= go
TAGS     := duckdb_arrow
BIN      := bin/apsql

.PHONY: build libjpeg demo test check vet fmt-check onnxruntime chromium exiftool bench fuzz mcp-inspector

build: libjpeg
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/apsql

# libjpeg-turbo's headers and library, which the build links (apt-get;
# quick when present): SYNC HASHES decodes thumbnails with it.
libjpeg:
	scripts/install-libjpeg.sh

# The main job on the built-in emulated library: mirror it, query it, act on
# a selection (outputs land in .demo/). For the interactive shell on the same
# library: bin/apsql --demo
demo: build onnxruntime
	mkdir -p .demo && cd .demo && ../$(BIN) --demo -f ../examples/demo.sql

# ONNX Runtime for LABEL (fetched from the onnxruntime-node npm package).
onnxruntime:
	scripts/install-onnxruntime.sh >/dev/null

# vet also runs staticcheck and checks that imports are grouped as goimports
# groups them (the standard library, others, then this module's packages).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOIMPORTS   := golang.org/x/tools/cmd/goimports@v0.51.0
vet:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) run $(STATICCHECK) -tags $(TAGS) ./...
	@out="$$($(GO) run $(GOIMPORTS) -local github.com/apsql/apsql -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "goimports would change:"; echo "$$out"; exit 1; fi

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Chromium for the gallery's browser test (apt-get; quick when present).
chromium:
	scripts/install-chromium.sh

# exiftool for BACKUP's sidecar test (apt-get; quick when present).
exiftool:
	scripts/install-exiftool.sh

# apsql mcp against a client nobody here wrote: the MCP Inspector's CLI
# (npm, installed once under .cache/mcp-inspector).
mcp-inspector: build
	scripts/mcp-inspector-test.sh $(BIN)

# Everything CI checks: build, vet, gofmt, and every package's tests.
test: onnxruntime chromium exiftool build vet fmt-check
test: mcp-inspector
	ONNXRUNTIME_LIB="$(CURDIR)/lib/onnxruntime/libonnxruntime.so.1" $(GO) test -tags $(TAGS) -short ./...
	$(MAKE) fuzz

# The filter parser under the fuzzer for 30 s: it never panics, its errors
# carry positions, and the canonical form of every parsed filter parses again.
# A failing input is saved under filterlang/testdata/fuzz/ (commit it).
fuzz:
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./filterlang/
	$(GO) test -run '^$$' -fuzz '^FuzzTokenize$$' -fuzztime 10s ./sqltext/
