# consoled — see README.md.
GO ?= go

.PHONY: build run test bench cross clean image image-base image-test image-update

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

.PHONY: bench-scale bench-bigshow

# How costs grow (needs root: a network namespace per console on a Linux
# bridge): 2, 3, 5, 8 and 12 consoles and a blackout of 12, with SVG plots
# in bench-scale/; and a 1 GB show (about 5 GB of free disk).
bench-scale: build
	$(GO) run ./scripts/bench -only scale,blackout -out bench-scale

bench-bigshow: build
	$(GO) run ./scripts/bench -only bigshow -out bench-scale

# Static binaries for the console images.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -buildvcs=auto -o bin/linux-arm64/ ./cmd/consoled ./cmd/consolectl
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -buildvcs=auto -o bin/linux-armv7/ ./cmd/consoled ./cmd/consolectl

# The console images and their hardware-in-the-loop test (image/image.mk;
# README, "Flashing a console"): make image [TARGET=amd64|rpi] [CONFIG=…]
# [NETWORK=…] [KEY=…] [ID=…] [SIZE=MiB]; make image-update HOST=….
image image-base image-test image-update:
	@$(MAKE) -s -f image/image.mk $@

clean:
	rm -rf bin

.PHONY: install screenshot

# Installs the binaries, the systemd unit, the consoled user and a config
# to start from (kept if one is there), and the docs. DESTDIR stages it.
PREFIX ?= /usr/local
UNITDIR ?= /etc/systemd/system
install: build
	install -D -m 0755 bin/consoled $(DESTDIR)$(PREFIX)/bin/consoled
	install -D -m 0755 bin/consolectl $(DESTDIR)$(PREFIX)/bin/consolectl
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/|$(PREFIX)/|g' dist/consoled.service > $(DESTDIR)$(UNITDIR)/consoled.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/consoled.service
	install -D -m 0644 dist/consoled.sysusers $(DESTDIR)/usr/lib/sysusers.d/consoled.conf
	test -e $(DESTDIR)/etc/consoled/consoled.yaml || install -D -m 0644 dist/consoled.yaml $(DESTDIR)/etc/consoled/consoled.yaml
	install -d $(DESTDIR)$(PREFIX)/share/doc/consoled
	install -m 0644 README.md docs/*.md docs/panel.png $(DESTDIR)$(PREFIX)/share/doc/consoled/
	@echo "installed; then: systemd-sysusers && systemctl daemon-reload && systemctl enable --now consoled"

# docs/panel.png: the web panel of a three-console show network while a
# console takes a full copy (scripts/screenshot; needs chromium).
screenshot: build
	$(GO) run ./scripts/screenshot -bin bin -out docs/panel.png
