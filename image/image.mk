# The console images: `make image`, `make image-test` (the Makefile runs
# this file from the module root). See README, "Flashing a console".
#
#   TARGET   amd64 (PC kernel: QEMU, x86 consoles) or rpi (arm64 Raspberry Pi)
#   CONFIG   the console's config.yaml (default: one with ID and the status
#            page on every address)
#   ID       the console's name when there is no CONFIG (default: console-XXXXXX)
#   NETWORK  the console's network.yaml (default: none, eth0 takes DHCP)
#   KEY      the show network key (default: bin/image/network.key, created by
#            the first make image: every console flashed here gets the same)
#   SIZE     the whole disk in MiB (default 1300): boot 100, two roots of
#            500, /perm the rest; the size of the card or disk to use it all
#   OUT      the image written (default: bin/image/consoled-TARGET.img)
#   HOST     make image-update: the console to update over the network

GO ?= go
TARGET ?= amd64
SIZE ?= 1300
DIR := bin/image
OUT ?= $(DIR)/consoled-$(TARGET).img
KEY ?= $(DIR)/network.key

arch_amd64 := amd64
arch_rpi := arm64
ARCH := $(arch_$(TARGET))
ifeq ($(ARCH),)
$(error TARGET=$(TARGET): want amd64 or rpi)
endif

# The image without /perm, as monogok builds it: the same for every console.
BASE := $(DIR)/base-$(TARGET)-$(SIZE)M.img

# It is built again only when one of its inputs changed: the Go and
# embedded files of the packages in it (consoled, the image's programs,
# gokrazy's init and services, as monogok builds them), go.mod and go.sum
# (the kernel, firmware and every module's version), the target's gokrazy
# config and this file. Listing them costs a go list; only this makefile
# does it, not every make.
PKGS := ./cmd/consoled ./image/netconf ./image/waitnic github.com/gokrazy/gokrazy \
	github.com/gokrazy/gokrazy/cmd/dhcp github.com/gokrazy/gokrazy/cmd/ntp github.com/gokrazy/gokrazy/cmd/randomd
INPUTS := $(shell GOOS=linux GOARCH=$(ARCH) CGO_ENABLED=0 $(GO) list -deps -tags gokrazy,netgo,osusergo \
	-f '{{if not .Standard}}{{$$d := .Dir}}{{range .GoFiles}}{{$$d}}/{{.}} {{end}}{{range .EmbedFiles}}{{$$d}}/{{.}} {{end}}{{end}}' $(PKGS))
ifeq ($(INPUTS),)
$(error go list found no inputs for the image)
endif

.PHONY: image image-base image-base-path image-test image-update

$(BASE): $(INPUTS) go.mod go.sum image/$(TARGET)/config.json image/image.mk
	@mkdir -p $(DIR)
	@echo "monogok: building $@ (log: $@.log)"
	@$(GO) tool monogok --config image/$(TARGET)/config.json overwrite --full $@.tmp \
		--target_storage_bytes $$(($(SIZE) * 1048576)) > $@.log 2>&1 || { cat $@.log; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

image-base: $(BASE)

image-base-path:
	@echo $(BASE)

# The running console at HOST gets this checkout's image; its /perm stays.
image-update: $(BASE)
	@[ -n "$(HOST)" ] || { echo "make image-update HOST=console-address [TARGET=$(TARGET)]"; exit 1; }
	@image/update.sh $(HOST) $(BASE)

# The first make image without KEY makes the show's key; later ones reuse it.
$(DIR)/network.key:
	@mkdir -p $(DIR)
	@umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > $@.tmp && echo >> $@.tmp && mv $@.tmp $@
	@echo "created the show network key $@: every console flashed with it shares the show"

image: $(BASE) $(if $(filter $(DIR)/network.key,$(KEY)),$(DIR)/network.key)
	@[ -r "$(KEY)" ] || { echo "KEY=$(KEY): no such file"; exit 1; }
	@set -e; config="$(CONFIG)"; \
	if [ -z "$$config" ]; then \
		id="$(ID)"; [ -n "$$id" ] || id=console-$$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n'); \
		config=$(DIR)/config.yaml; \
		printf '# /perm/consoled/config.yaml, written by make image\nid: %s\nhttp: ":7480"\n' "$$id" > $$config; \
	fi; \
	$(GO) run ./image/configcheck "$$config"; \
	if [ -n "$(NETWORK)" ]; then $(GO) run ./image/netconf -check -config "$(NETWORK)"; fi; \
	image/perm.sh $(BASE) $(OUT) "$$config" "$(NETWORK)" "$(KEY)"; \
	image/check.sh $(OUT) $(ARCH); \
	echo "wrote $(OUT): console $$(sed -n 's/^id: *//p' "$$config" | head -1), key $(KEY)"

# The hardware-in-the-loop test boots copies of the amd64 base image.
image-test: $(BASE)
	@[ "$(TARGET)" = amd64 ] || { echo "image-test boots the amd64 image (TARGET=$(TARGET))"; exit 1; }
	CONSOLED_IMAGE=$(CURDIR)/$(BASE) $(GO) test -count=1 -v -timeout 20m ./image/hil
