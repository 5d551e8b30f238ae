# consoled — see README.md.
GO ?= go

.PHONY: build run test bench cross clean image image-base image-test image-update

build:
	$(GO) build -o bin/ ./cmd/consoled ./cmd/consolectl

# One console on the mock board, its data in run/. Stop it with Ctrl-C.
run: build
	mkdir -p run
	bin/consoled --data run --board mock

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

bench: build
	$(GO) run ./scripts/bench

# Static binaries for the console images.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -o bin/linux-arm64/ ./cmd/consoled ./cmd/consolectl
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -o bin/linux-armv7/ ./cmd/consoled ./cmd/consolectl

# The console images and their hardware-in-the-loop test (image/image.mk;
# README, "Flashing a console"): make image [TARGET=amd64|rpi] [CONFIG=…]
# [NETWORK=…] [KEY=…] [ID=…] [SIZE=MiB]; make image-update HOST=….
image image-base image-test image-update:
	@$(MAKE) -s -f image/image.mk $@

clean:
	rm -rf bin
