# The newcomer's commands: `make demo`, `make test`; `make build` builds alone.
JOBS ?= 2
.PHONY: setup build test demo clean

setup:
	@scripts/setup.sh

build: setup
	ninja -C build -j$(JOBS)

test: build
	ninja -C build -j$(JOBS) check-modelc

demo: build
	@scripts/demo.sh

clean:
	rm -rf build
