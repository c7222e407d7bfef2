# The newcomer's commands: `make demo`, `make test`; `make build` builds alone.
# `make test` runs the whole lit suite in build/, then the runtime, e2e and
# example tests again in build-asan/ under ASan + UBSan (README.md);
# MODELC_SANITIZERS=0 skips the second run.
JOBS ?= 2
# `make install PREFIX=P`: cmake --install build --prefix P (cmake/Install.cmake).
PREFIX ?= /usr/local
MODELC_SANITIZERS ?= 1
export MODELC_SANITIZERS
.PHONY: setup build test demo install clean

setup:
	@scripts/setup.sh

build: setup
	ninja -C build -j$(JOBS)

test: build
	ninja -C build -j$(JOBS) check-modelc
ifneq ($(MODELC_SANITIZERS),0)
	ninja -C build-asan -j$(JOBS) check-modelc
endif

demo: build
	@scripts/demo.sh

install: build
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan
