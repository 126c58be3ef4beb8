# The two commands of the README: `make run` and `make test`.
SWIFT ?= swift
PREFIX ?= /usr/local
ARGS ?=

.PHONY: run build test deps install clean

deps:
	@./scripts/ensure-deps

build: deps
	$(SWIFT) build -c release

# Builds in release and runs flowscope; pass options with ARGS="--json -a".
run: build
	.build/release/flowscope $(ARGS)

# The whole test suite; tests that need root say so and skip when not root.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

install: build
	install -D -m 0755 .build/release/flowscope $(DESTDIR)$(PREFIX)/bin/flowscope
	install -D -m 0644 man/flowscope.8 $(DESTDIR)$(PREFIX)/share/man/man8/flowscope.8

clean:
	rm -rf .build
