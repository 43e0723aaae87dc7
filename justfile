# runnel tasks. Every recipe is a one-line go command, so nothing here needs
# `just` installed: copy the line into a shell.

# Run the server on the bundled example workspace (http://127.0.0.1:8080).
run:
    go run ./cmd/runnel serve

# Build the binary into ./bin/runnel.
build:
    go build -o bin/runnel ./cmd/runnel

# Run every test with the race detector (what CI runs).
test:
    go test -race ./...

# Format check and vet.
lint:
    gofmt -l . && go vet ./...

# Run the benchmarks once each (numbers in the README and closing notes).
bench:
    go test -run '^$' -bench . -benchtime 1x ./...

# Rewrite the golden files under testdata/ from the current output (review
# the diff before committing).
golden:
    go test ./workspace ./cmd/runnel -update

# Fuzz the YAML loader for a minute (other targets: FuzzRender in
# ./workspace/tmpl, FuzzParseLine and FuzzRead in ./logstore).
fuzz:
    go test -run '^$' -fuzz FuzzLoad -fuzztime 60s ./workspace

# Re-fetch the web UI's vendored browser libraries from the npm registry and
# check them against httpd/web/vendor.json (add -check to verify offline).
vendor:
    go run ./httpd/web/vendorfetch
