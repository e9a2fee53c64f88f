# `make test` is the one command that runs every test, on a fresh machine too: it installs what
# the tests need when it is missing (idempotent, fast when everything is there), then runs
# gofmt, go vet and go test, which includes the end-to-end tests in test/e2e.
GO ?= go
# Debian packages the end-to-end tests need: the command each provides, and the package name.
E2E_DEPS := ser2net:ser2net linux.uml:user-mode-linux pppd:ppp insmod:kmod gcc:gcc freeradius:freeradius radclient:freeradius-utils ping:iputils-ping ip:iproute2

.PHONY: test deps build fmt lab
test: deps
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./...

deps:
	@$(GO) mod download
	@missing=""; for dep in $(E2E_DEPS); do cmd=$${dep%%:*}; pkg=$${dep##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	  fi

build:
	$(GO) build -o bin/nas ./cmd/nas

lab:
	$(GO) run ./cmd/nas lab
