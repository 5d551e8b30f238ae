# consoled — see README.md.
GO ?= go

.PHONY: build run test bench cross clean

# -buildvcs=auto: --version prints the git revision (GOFLAGS may turn stamping off).
build:
	$(GO) build -buildvcs=auto -o bin/ ./cmd/consoled ./cmd/consolectl

# One console on the mock board, its data in run/. Stop it with Ctrl-C.
run: build
	mkdir -p run
	bin/consoled --data run --board mock

# Every test with the race detector, then the deterministic simulation's
# 1,000 fault schedules without it (under it they run 50).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -count=1 -timeout 15m -run 'TestSimulation$$' ./replication -sim.seeds=1000

bench: build
	$(GO) run ./scripts/bench

# Static binaries for the console images.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -buildvcs=auto -o bin/linux-arm64/ ./cmd/consoled ./cmd/consolectl
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -buildvcs=auto -o bin/linux-armv7/ ./cmd/consoled ./cmd/consolectl

clean:
	rm -rf bin
