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

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

bench: build
	$(GO) run ./scripts/bench

# Static binaries for the console images.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -buildvcs=auto -o bin/linux-arm64/ ./cmd/consoled ./cmd/consolectl
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -buildvcs=auto -o bin/linux-armv7/ ./cmd/consoled ./cmd/consolectl

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
