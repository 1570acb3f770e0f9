# libcontrastive - GNU Makefile (GNU conventions: PREFIX, DESTDIR, LIBDIR...)
#
#   make                  build lib/libcontrastive.a and lib/libcontrastive.so.*
#   make check            build and run the Check test suites (+ ABI and
#                         layering checks)
#   make check SANITIZE=1 the same under AddressSanitizer + UBSan
#   make check-valgrind   the suites under valgrind memcheck (a process per suite, two at a time)
#   make check-tsan       threads on distinct and shared handles under TSan
#   make fuzz-smoke       every loader's fuzz target for a few seconds (clang)
#   make fuzz             the long fuzzing campaign (FUZZ_SECONDS per target)
#   make demo             the main demo
#   make run-cpc-speech   CPC on espeak-ng speech (examples/cpc-speech)
#   make run-cpc-images   CPC v2 / Greedy InfoMax on image patches
#   make run-curl         CURL on frames of a small game (examples/curl)
#   make run-dim          Deep InfoMax / AMDIM on Fashion-MNIST (examples/dim)
#   make guide            the guide's SimCLR, MoCo, InstDisc and CPC programs (docs/guide.md)
#   make run-vivi         VIVI on synthetic videos of Fashion-MNIST items (examples/vivi)
#   make run-cmc          Contrastive Multiview Coding on Fashion-MNIST (examples/cmc)
#   make run-correspondence  video correspondence on synthetic clips (examples/correspondence)
#   make run-crd          CRD: a CNN teacher distilled into an MLP (examples/crd)
#   make bench            the benchmarks (bench/results.json)
#   make man              the reference manual, build/man/man3 (from the headers)
#   make check-python     the Python package's checks and pytest suite
#                         (install-python, bench-python: see its section)
#   make install / uninstall   PREFIX DESTDIR LIBDIR INCLUDEDIR PKGCONFIGDIR
#                         MANDIR CMAKEDIR
#
# Options: BLAS=openblas|blis  CC=gcc|clang  SANITIZE=1  WERROR=0  NO_DEPS=1  OPENMP=1
#
# One build tree (build/) holds one configuration at a time: when the flags
# change (CC, BLAS, SANITIZE...) everything is rebuilt.

.SUFFIXES:
.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

# ---- version: read from the public header, the single source --------------
HEADER := include/contrastive.h
version_part = $(shell sed -n 's/^\#define CTR_VERSION_$(1)[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' $(HEADER))
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION_MINOR := $(call version_part,MINOR)
VERSION_PATCH := $(call version_part,PATCH)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

# ---- installation directories ---------------------------------------------
PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR ?= $(EXEC_PREFIX)/bin
LIBDIR ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/contrastive
DATAROOTDIR ?= $(PREFIX)/share
MANDIR ?= $(DATAROOTDIR)/man
INSTALL ?= install

# ---- toolchain and flags ----------------------------------------------------
CC ?= cc
PYTHON ?= python3
ifeq ($(origin CXX),default)
  CXX := $(if $(findstring clang,$(CC)),clang++,g++)
endif
CFLAGS ?= -O2 -g
WERROR ?= 1
WARNINGS := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla $(if $(filter 1,$(WERROR)),-Werror)
SANITIZE ?=
comma := ,
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=address$(comma)undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

# ---- BLAS backend (pkg-config; BLIS falls back to Debian's layout) ---------
BLAS ?= openblas
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
ifeq ($(BLAS),openblas)
  BLAS_DEFINE := -DCTR_BLAS_OPENBLAS
  BLAS_PC := openblas
  BLAS_CFLAGS = $(shell pkg-config --cflags openblas)
  BLAS_LIBS = $(shell pkg-config --libs openblas)
  BLAS_LIBS_PRIVATE :=
else ifeq ($(BLAS),blis)
  BLAS_DEFINE := -DCTR_BLAS_BLIS
  BLAS_PC = $(shell pkg-config --exists blis && echo blis)
  BLIS_DIR = $(firstword $(wildcard $(foreach t,openmp pthread serial,/usr/include/$(MULTIARCH)/blis-$(t))))
  BLIS_LIBDIR = $(subst /include/,/lib/,$(BLIS_DIR))
  BLAS_CFLAGS = $(if $(BLAS_PC),$(shell pkg-config --cflags blis),-I$(BLIS_DIR))
  BLAS_LIBS = $(if $(BLAS_PC),$(shell pkg-config --libs blis),-L$(BLIS_LIBDIR) -Wl,-rpath,$(BLIS_LIBDIR) -lblis)
  BLAS_LIBS_PRIVATE = $(if $(BLAS_PC),,-L$(BLIS_LIBDIR) -lblis)
else
  $(error BLAS must be openblas or blis (got '$(BLAS)'))
endif

# ---- OpenMP build (docs/threading.md) --------------------------------------
# make OPENMP=1: the library's passes between GEMMs split their loops over
# the host's OpenMP threads (-DCTR_OPENMP, src/common/parallel.h), and BLAS
# is Debian's OpenMP OpenBLAS (libopenblas-openmp-dev), linked by its
# directory with an rpath, so both share one libgomp pool. The system's
# libopenblas.so.0 alternative (openblas-pthread) is left as it is.
OPENMP ?=
OPENBLAS_OMP_DIR := /usr/lib/$(MULTIARCH)/openblas-openmp
ifeq ($(OPENMP),1)
  # gcc only: the OpenMP OpenBLAS runs on libgomp, clang's -fopenmp on
  # libomp, and two OpenMP runtimes in one process would not share a pool
  # (check-tsan's own tree uses clang and the pthread OpenBLAS, below).
  $(if $(findstring clang,$(CC)),$(error OPENMP=1 builds with gcc (libgomp, as the OpenMP OpenBLAS); got CC=$(CC)))
  OMP_FLAGS := -fopenmp
  BLAS_DEFINE += -DCTR_OPENMP
  ifeq ($(BLAS),openblas)
    $(if $(wildcard $(OPENBLAS_OMP_DIR)/libopenblas.so),,$(error OPENMP=1 needs the OpenMP OpenBLAS in $(OPENBLAS_OMP_DIR): apt-get install libopenblas-openmp-dev))
    BLAS_CFLAGS = -I/usr/include/$(MULTIARCH)/openblas-openmp
    BLAS_LIBS = -L$(OPENBLAS_OMP_DIR) -Wl,-rpath,$(OPENBLAS_OMP_DIR) -lopenblas
  endif
else ifneq ($(OPENMP),)
  $(error OPENMP must be 1 or empty (got '$(OPENMP)'))
endif

BUILD := build
CPPFLAGS_LIB = -Iinclude -Isrc -I$(BUILD)/gen -D_POSIX_C_SOURCE=200809L $(BLAS_DEFINE) $(patsubst -I%,-isystem %,$(BLAS_CFLAGS))
CFLAGS_ALL = -std=c11 -fPIC -fvisibility=hidden $(WARNINGS) $(CFLAGS) $(SAN_FLAGS) $(OMP_FLAGS)
LDFLAGS_ALL = $(LDFLAGS) $(SAN_FLAGS) -Wl,-z,noexecstack -Wl,-z,relro -Wl,-z,now
LIBS_ALL = $(BLAS_LIBS) -lm -lpthread

# ---- sources ------------------------------------------------------------------
# src/ is one folder per role (docs/architecture.md): every src/<role>/*.c
# is part of the library, and objects mirror the folders under $(BUILD)/src.
# Headers are included by their path below src/ ("common/core.h").
# src/mpi/ is the optional MPI adapter, a library of its own (make MPI=1).
LIB_SRCS := $(sort $(filter-out src/mpi/%,$(wildcard src/*/*.c)))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/src/%.o)
LIB_HDRS := $(wildcard include/*.h include/contrastive/*.h src/*/*.h)
# ar keeps only the base name of a member: two sources with one name would
# replace each other in the static library.
LIB_SAME_NAMES := $(shell printf '%s\n' $(notdir $(LIB_SRCS)) | sort | uniq -d)
$(if $(LIB_SAME_NAMES),$(error src/: file names used twice: $(LIB_SAME_NAMES)))
STATIC := lib/libcontrastive.a
SHARED_REAL := lib/libcontrastive.so.$(VERSION)
SHARED_SONAME := libcontrastive.so.$(VERSION_MAJOR)
SHARED := lib/$(SHARED_SONAME) lib/libcontrastive.so
SYMBOL_MAP := lib/libcontrastive.map

# Every tests/check_<name>.c defines Suite *ctr_test_<name>_suite(void); the
# runner's list is generated from the file names.
SUITE_NAMES := $(filter-out main,$(patsubst tests/check_%.c,%,$(wildcard tests/check_*.c)))
FUZZ_HARNESS := tests/fuzz/targets.c tests/fuzz/seeds.c
TEST_SRCS := $(wildcard tests/check_*.c) tests/test_util.c $(FUZZ_HARNESS)
TEST_OBJS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%.o) \
             $(BUILD)/tests/header_c99.o $(BUILD)/tests/header_c11.o \
             $(BUILD)/tests/header_cxx.o
TEST_RUNNER := $(BUILD)/tests/check_all
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)

# ---- system packages ----------------------------------------------------------
# scripts/install-deps.sh checks (and as root installs) what the goals need.
NO_DEPS ?=
DEPS_LEVEL := $(if $(filter demo run-demo-mpi run-cpc-images run-dim run-vivi run-cmc run-correspondence run-crd,$(MAKECMDGOALS)),demo,$(if $(filter run-cpc-speech,$(MAKECMDGOALS)),speech,$(if $(filter fuzz% check-tsan,$(MAKECMDGOALS)),fuzz,$(if $(filter check% bench,$(MAKECMDGOALS)),check,build))))

.PHONY: all deps check check-valgrind check-symbols check-layers check-header check-tsan \
        check-man man fuzz fuzz-smoke fuzz-build examples demo guide bench install uninstall clean FORCE \
        run-cpc-speech run-cpc-images run-curl run-dim run-vivi run-cmc run-correspondence run-crd

all: $(STATIC) $(SHARED) man

deps:
	@$(if $(NO_DEPS),true,BLAS=$(BLAS) CC=$(CC) sh scripts/install-deps.sh $(DEPS_LEVEL))

# Rebuild everything when the configuration changes.
$(BUILD)/flags: FORCE | deps
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CXX) $(BLAS) $(CFLAGS_ALL) $(CPPFLAGS_LIB) $(LDFLAGS_ALL) $(LIBS_ALL)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

$(BUILD)/src/%.o: src/%.c $(LIB_HDRS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_LIB) $(CPPFLAGS) $(CFLAGS_ALL) $(CFLAGS_FILE) -c $< -o $@

# ctr_constant_*'s table: every integer constant of the public headers.
CONSTANTS_TABLE := $(BUILD)/gen/constants_table.h
$(CONSTANTS_TABLE): scripts/gen-constants.sh $(wildcard include/*.h include/contrastive/*.h)
	@mkdir -p $(@D)
	sh scripts/gen-constants.sh > $@.new && mv $@.new $@
$(BUILD)/src/common/constants.o: $(CONSTANTS_TABLE)

# The reference manual: a page per function group and per object, from the
# comments of the public headers (scripts/gen-man.py); check-man: every
# exported symbol has a page and every page renders without a warning.
PUBLIC_HDRS := $(wildcard include/*.h include/contrastive/*.h)
MAN_DIR := $(BUILD)/man
MAN_STAMP := $(MAN_DIR)/stamp
$(MAN_STAMP): scripts/gen-man.py $(PUBLIC_HDRS) | deps
	$(PYTHON) scripts/gen-man.py $(MAN_DIR)
	@touch $@
man: $(MAN_STAMP)

check-man: $(MAN_STAMP)
	sh scripts/check-man.sh $(MAN_DIR) $(SYMBOL_MAP)

# The vector kernels are written as a * b + c; let the AVX2+FMA clone fuse them.
$(BUILD)/src/common/kernels.o: CFLAGS_FILE = -ffp-contract=fast
$(BUILD)/src/eval/probe_kernel.o: CFLAGS_FILE = -ffp-contract=fast
# AdamW's loop (optimizer.c) vectorises only when sqrtf need not set errno.
$(BUILD)/src/encoder/optimizer.o: CFLAGS_FILE = -fno-math-errno

$(STATIC): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# AddressSanitizer's runtime is not linked into clang shared objects, so the
# no-undefined guard is left out of sanitizer builds.
NO_UNDEFINED := $(if $(SANITIZE),,-Wl,--no-undefined)

$(SHARED_REAL): $(LIB_OBJS) $(SYMBOL_MAP)
	@mkdir -p $(@D)
	$(CC) -shared $(CFLAGS_ALL) $(LDFLAGS_ALL) $(NO_UNDEFINED) \
	    -Wl,-soname,$(SHARED_SONAME) -Wl,--version-script=$(SYMBOL_MAP) \
	    -o $@ $(LIB_OBJS) $(LIBS_ALL)

$(SHARED): $(SHARED_REAL)
	ln -sf $(notdir $(SHARED_REAL)) $@

# ---- tests ----------------------------------------------------------------------
$(BUILD)/tests/%.o: tests/%.c $(wildcard tests/*.h tests/fuzz/*.h) $(LIB_HDRS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_LIB) -Itests -I$(BUILD)/tests $(CHECK_CFLAGS) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/tests/suites.h: FORCE $(BUILD)/flags
	@mkdir -p $(@D)
	@printf 'CTR_TEST_SUITE(%s)\n' $(SUITE_NAMES) > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi
$(BUILD)/tests/check_main.o: $(BUILD)/tests/suites.h
# check_vivi.c tests the VIVI example's loss and videos, which it includes.
$(BUILD)/tests/check_vivi.o: examples/vivi/vivi_loss.c examples/vivi/vivi_loss.h examples/vivi/video.c examples/vivi/video.h

# The public header must compile cleanly as C99, C11 and C++.
HEADER_STRICT := -Wall -Wextra -Wpedantic -Werror -Iinclude
$(BUILD)/tests/header_c99.o: tests/header_compile.c $(LIB_HDRS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) -std=c99 $(HEADER_STRICT) $(SAN_FLAGS) -DHEADER_TEST_NAME=ctr_header_test_c99 -c $< -o $@
$(BUILD)/tests/header_c11.o: tests/header_compile.c $(LIB_HDRS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) -std=c11 $(HEADER_STRICT) $(SAN_FLAGS) -DHEADER_TEST_NAME=ctr_header_test_c11 -c $< -o $@
# (The C++ object is built without sanitizers: clang's UBSan would pull in
# the C++ runtime's type information, and the test runner links as C.)
$(BUILD)/tests/header_cxx.o: tests/header_compile.cpp $(LIB_HDRS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CXX) -std=c++11 $(HEADER_STRICT) -fno-exceptions -fno-rtti -c $< -o $@

$(TEST_RUNNER): $(TEST_OBJS) $(STATIC)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(TEST_OBJS) $(STATIC) $(CHECK_LIBS) $(LIBS_ALL)

check-symbols: $(STATIC) $(SHARED)
	sh scripts/check-symbols.sh lib/$(SHARED_SONAME) $(STATIC) $(SYMBOL_MAP) include

# src/ folders depend one way and no two files use each other
# (docs/architecture.md): read from the objects' symbols and the includes.
check-layers: $(LIB_OBJS)
	@sh scripts/check-layers.sh $(LIB_OBJS)

# Every exported function that takes a handle is called by the last-error
# test (scripts/check-last-error.sh lists the ones that take none).
.PHONY: check-last-error
check-last-error:
	@sh scripts/check-last-error.sh $(SYMBOL_MAP) tests/check_last_error.c

# The public header alone under clang's -Weverything -Werror, as C99, C11,
# C++11 and C++17, with no exceptions. make check runs it when CC is clang
# (CI's clang configurations).
HEADER_EVERYTHING := -Weverything -Werror -Iinclude -fsyntax-only
check-header:
	@mkdir -p $(BUILD)
	@printf '#include "contrastive.h"\n' > $(BUILD)/header_only.c
	@for std in c99 c11; do clang -x c -std=$$std $(HEADER_EVERYTHING) $(BUILD)/header_only.c || exit 1; done
	@for std in c++11 c++17; do clang -x c++ -std=$$std $(HEADER_EVERYTHING) $(BUILD)/header_only.c || exit 1; done
	@echo "check-header: include/contrastive.h is -Weverything clean (C99, C11, C++11, C++17)"

# The symbol check needs the real shared object, which sanitizer builds
# do not link strictly; they run the suites (and the layering check) only.
check: check-layers check-man check-last-error $(if $(SANITIZE),,check-symbols) $(if $(findstring clang,$(CC)),check-header) $(TEST_RUNNER) | deps
	CTR_TEST_DATA=tests/data $(TEST_RUNNER)

# Each suite is its own memcheck process, two at a time, so the two cores
# stay busy to the end whatever the suites cost. --track-origins doubles the
# time and only explains an error: VALGRIND_EXTRA=--track-origins=yes when
# reading one.
VALGRIND_EXTRA ?=
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
            $(VALGRIND_EXTRA)
check-valgrind: $(TEST_RUNNER) | deps
	@test -z "$(SANITIZE)" || { echo "check-valgrind: build without SANITIZE"; exit 2; }
	@mkdir -p $(BUILD)/valgrind
	@sed -n 's/^CTR_TEST_SUITE(\([a-z_0-9]*\))$$/\1/p' $(BUILD)/tests/suites.h | \
	    xargs -P 2 -I{} sh -c 'CK_RUN_SUITE={} CTR_TEST_DATA=tests/data CTR_TEST_VALGRIND=1 \
	        $(VALGRIND) $(TEST_RUNNER) > $(BUILD)/valgrind/{}.log 2>&1 && \
	        echo "valgrind {}: $$(tail -n 1 $(BUILD)/valgrind/{}.log)" || \
	        { cat $(BUILD)/valgrind/{}.log; echo "valgrind {}: FAILED"; exit 1; }'

# ---- ThreadSanitizer (docs/threading.md) ------------------------------------------
# The library and tests/tsan/threads.c built with -fsanitize=thread in their
# own tree: threads on distinct handles, and const calls on shared ones.
TSAN_CC ?= clang
TSAN_BUILD := build-tsan$(if $(filter 1,$(OPENMP)),-omp)
TSAN_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=thread $(OMP_FLAGS)
TSAN_CPPFLAGS = -Iinclude -Isrc -I$(BUILD)/gen -D_POSIX_C_SOURCE=200809L $(BLAS_DEFINE) $(patsubst -I%,-isystem %,$(BLAS_CFLAGS))
TSAN_LIB_OBJS := $(LIB_SRCS:src/%.c=$(TSAN_BUILD)/src/%.o)
# (OPENMP=1: the system's pthread OpenBLAS, see omp_step below)
TSAN_LIBS = $(if $(filter 1,$(OPENMP)),$(shell pkg-config --libs openblas) -lm -lpthread,$(LIBS_ALL))

$(TSAN_BUILD)/src/%.o: src/%.c $(LIB_HDRS) | deps
	@mkdir -p $(@D)
	$(TSAN_CC) $(TSAN_CPPFLAGS) -std=c11 $(WARNINGS) $(TSAN_FLAGS) $(CFLAGS_FILE) -c $< -o $@
$(TSAN_BUILD)/src/common/kernels.o: CFLAGS_FILE = -ffp-contract=fast
$(TSAN_BUILD)/src/eval/probe_kernel.o: CFLAGS_FILE = -ffp-contract=fast
$(TSAN_BUILD)/src/common/constants.o: $(CONSTANTS_TABLE)

$(TSAN_BUILD)/threads: tests/tsan/threads.c $(TSAN_LIB_OBJS)
	$(TSAN_CC) $(TSAN_CPPFLAGS) -std=c11 $(WARNINGS) $(TSAN_FLAGS) -o $@ $< $(TSAN_LIB_OBJS) $(TSAN_LIBS)

# One BLAS thread: OpenBLAS's own pool is not instrumented.
check-tsan: $(TSAN_BUILD)/threads $(if $(filter 1,$(OPENMP)),$(TSAN_BUILD)/omp_step) | deps
	OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 $(TSAN_OMP_ENV) TSAN_OPTIONS=halt_on_error=1:exitcode=66$(TSAN_OMP_OPTIONS) $(TSAN_BUILD)/threads
	$(if $(filter 1,$(OPENMP)),OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 $(TSAN_OMP_ENV) \
	    TSAN_OPTIONS=halt_on_error=1:exitcode=66$(TSAN_OMP_OPTIONS) $(TSAN_BUILD)/omp_step)

# make check-tsan OPENMP=1 (docs/threading.md): clang's OpenMP runtime
# (libomp) with its ThreadSanitizer tool, Archer, which tells TSan about
# the runtime's barriers and joins (libgomp is not built for TSan and has
# no such tool, so TSan cannot see its synchronisation: GCC documents that
# it needs a libgomp rebuilt without futexes). The OpenMP OpenBLAS
# needs libgomp, a second runtime, so the TSan programs link the system's
# pthread OpenBLAS instead, at one thread: the code under test is the
# library's own split loops. TSan's ignore_noninstrumented_modules=1 (as
# Archer asks) leaves out the accesses made inside libomp itself.
TSAN_OMP_ENV = $(if $(filter 1,$(OPENMP)),OMP_TOOL_LIBRARIES=$(TSAN_ARCHER))
TSAN_OMP_OPTIONS = $(if $(filter 1,$(OPENMP)),:ignore_noninstrumented_modules=1)
TSAN_ARCHER = $(firstword $(wildcard /usr/lib/llvm-*/lib/libarcher.so /usr/lib/$(MULTIARCH)/libarcher.so) libarcher.so)
$(TSAN_BUILD)/omp_step: tests/tsan/omp_step.c $(TSAN_LIB_OBJS)
	$(TSAN_CC) $(TSAN_CPPFLAGS) -std=c11 $(WARNINGS) $(TSAN_FLAGS) -o $@ $< $(TSAN_LIB_OBJS) $(TSAN_LIBS)

# ---- fuzzing (tests/fuzz/README.md) ----------------------------------------------
# One libFuzzer target per loader, built with clang into $(FUZZ_BUILD) (its
# own tree: the library again, instrumented for coverage, ASan and UBSan).
#   make fuzz-smoke            every target for FUZZ_SMOKE_SECONDS on its seeds
#   make fuzz                  every target for FUZZ_SECONDS, corpus kept in
#                              $(FUZZ_BUILD)/corpus/<target>, FUZZ_JOBS at once
# A crash stops the run with libFuzzer's report and the input (crash-*);
# minimise it (fuzz_<target> -minimize_crash=1 ...) and keep it in
# tests/fuzz/regress/<target>/, which make check replays.
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_TARGETS := rng queue bank encoder optimizer objective state
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_JOBS ?= 1
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CPPFLAGS = -Iinclude -Isrc -I$(BUILD)/gen -Itests -D_POSIX_C_SOURCE=200809L $(BLAS_DEFINE) $(patsubst -I%,-isystem %,$(BLAS_CFLAGS))
FUZZ_LIB_OBJS := $(LIB_SRCS:src/%.c=$(FUZZ_BUILD)/src/%.o)
FUZZ_HARNESS_OBJS := $(FUZZ_HARNESS:tests/fuzz/%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_BUILD)/src/%.o: src/%.c $(LIB_HDRS) | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -std=c11 $(WARNINGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(CFLAGS_FILE) -c $< -o $@
$(FUZZ_BUILD)/src/common/kernels.o: CFLAGS_FILE = -ffp-contract=fast
$(FUZZ_BUILD)/src/eval/probe_kernel.o: CFLAGS_FILE = -ffp-contract=fast
$(FUZZ_BUILD)/src/common/constants.o: $(CONSTANTS_TABLE)

$(FUZZ_BUILD)/%.o: tests/fuzz/%.c tests/fuzz/fuzz.h tests/fuzz/ckpt_repair.h $(LIB_HDRS) | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -std=c11 $(WARNINGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libcontrastive-fuzz.a: $(FUZZ_LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_main.c $(FUZZ_HARNESS_OBJS) $(FUZZ_BUILD)/libcontrastive-fuzz.a
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -std=c11 $(WARNINGS) $(FUZZ_FLAGS) -fsanitize=fuzzer \
	    -DCTR_FUZZ_TARGET='"$*"' -o $@ $< $(FUZZ_HARNESS_OBJS) $(FUZZ_BUILD)/libcontrastive-fuzz.a $(LIBS_ALL)

$(FUZZ_BUILD)/make_seeds: tests/fuzz/make_seeds.c $(FUZZ_HARNESS_OBJS) $(FUZZ_BUILD)/libcontrastive-fuzz.a
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -std=c11 $(WARNINGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
	    -o $@ $< $(FUZZ_HARNESS_OBJS) $(FUZZ_BUILD)/libcontrastive-fuzz.a $(LIBS_ALL)

fuzz-build: $(FUZZ_BINS) $(FUZZ_BUILD)/make_seeds

# Seeds are made by the program each time (through the public API); the
# campaign's corpus grows beside them in $(FUZZ_BUILD)/corpus/<target>.
fuzz-smoke: fuzz-build
	sh scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) 1 smoke $(FUZZ_TARGETS)

fuzz: fuzz-build
	sh scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS) corpus $(FUZZ_TARGETS)

# ---- examples and demo ----------------------------------------------------------
$(BUILD)/examples/%: examples/%.c $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(STATIC) $(LIBS_ALL)

examples: $(EXAMPLES)

# The main demo, contrastive-demo (examples/demo/), written against the
# public header only; it reads the data set's .gz files with zlib.
DEMO_SRCS := $(wildcard examples/demo/*.c)
DEMO_BIN := $(BUILD)/examples/contrastive-demo
DEMO_ARGS ?=

$(DEMO_BIN): $(DEMO_SRCS) $(wildcard examples/demo/*.h) $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(DEMO_SRCS) $(STATIC) $(LIBS_ALL) -lz

# `make demo` trains on the OpenMP build (docs/threading.md: both cores
# work between the GEMMs; the demo's step 78 against 109 ms at 2 threads),
# built in a tree of its own, $(BUILD)/omp, so that `make` and `make check`
# keep theirs, when the OpenMP OpenBLAS is installed (install-deps.sh's demo
# level installs it), BLAS=openblas and CC is gcc; otherwise, or with
# DEMO_OPENMP=0, on the default build. libgomp's threads wait passively
# unless OMP_WAIT_POLICY is set (DEMO_OMP_WAIT; docs/results.md, issue 17).
DEMO_OPENMP ?= 1
DEMO_OMP_WAIT ?= PASSIVE
DEMO_OMP_TREE := $(BUILD)/omp
DEMO_OMP_BIN := $(DEMO_OMP_TREE)/examples/contrastive-demo
demo: | deps
	@if [ "$(DEMO_OPENMP)" = 1 ] && [ -z "$(OPENMP)" ] && [ "$(BLAS)" = openblas ] && \
	    [ -e $(OPENBLAS_OMP_DIR)/libopenblas.so ] && ! echo "$(CC)" | grep -q clang; then \
	    $(MAKE) --no-print-directory OPENMP=1 BUILD=$(DEMO_OMP_TREE) \
	        STATIC=$(DEMO_OMP_TREE)/libcontrastive.a NO_DEPS=1 $(DEMO_OMP_BIN) && \
	    echo "make demo: the OpenMP build, OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-$(DEMO_OMP_WAIT)}" && \
	    OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-$(DEMO_OMP_WAIT)} $(DEMO_OMP_BIN) $(DEMO_ARGS); \
	else \
	    $(MAKE) --no-print-directory NO_DEPS=1 $(DEMO_BIN) && $(DEMO_BIN) $(DEMO_ARGS); \
	fi

# The predictive-coding examples (examples/cpc-speech, examples/cpc-images),
# written against the public header only; examples/cpc-common holds what
# they share. `make run-cpc-speech` installs espeak-ng (the corpus is
# synthesised at the first run), `make run-cpc-images` the Fashion-MNIST
# package; CPC_SPEECH_ARGS / CPC_IMAGES_ARGS pass options (--help).
CPC_COMMON := $(wildcard examples/cpc-common/*.c examples/cpc-common/*.h)
CPC_SPEECH_BIN := $(BUILD)/examples/cpc-speech
CPC_IMAGES_BIN := $(BUILD)/examples/cpc-images
CPC_SPEECH_ARGS ?=
CPC_IMAGES_ARGS ?=

$(CPC_SPEECH_BIN): $(wildcard examples/cpc-speech/*.c examples/cpc-speech/*.h) $(CPC_COMMON) $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL)

$(CPC_IMAGES_BIN): $(wildcard examples/cpc-images/*.c examples/cpc-images/*.h) $(CPC_COMMON) examples/demo/fmnist.c examples/demo/fmnist.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL) -lz

run-cpc-speech: $(CPC_SPEECH_BIN) | deps
	$(CPC_SPEECH_BIN) $(CPC_SPEECH_ARGS)

run-cpc-images: $(CPC_IMAGES_BIN) | deps
	$(CPC_IMAGES_BIN) $(CPC_IMAGES_ARGS)

# The CURL example (examples/curl): the "catch" game, CURL with the
# bilinear critic, the regression probe; public header only. CURL_ARGS
# passes options (--help).
CURL_BIN := $(BUILD)/examples/curl
CURL_ARGS ?=

$(CURL_BIN): $(wildcard examples/curl/*.c examples/curl/*.h) examples/cpc-common/cpc_report.c examples/cpc-common/cpc_report.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL)

run-curl: $(CURL_BIN) | deps
	$(CURL_BIN) $(CURL_ARGS)
# The Deep InfoMax example (examples/dim; docs/local-global.md): three
# chained encoders and the local-global objective on Fashion-MNIST, with
# the CPC examples' probe and report (examples/cpc-common). DIM_ARGS pass
# options (--help), e.g. DIM_ARGS="--estimator jsd".
DIM_BIN := $(BUILD)/examples/dim
DIM_ARGS ?=

$(DIM_BIN): $(wildcard examples/dim/*.c examples/dim/*.h) $(CPC_COMMON) examples/demo/fmnist.c examples/demo/fmnist.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL) -lz

run-dim: $(DIM_BIN) | deps
	$(DIM_BIN) $(DIM_ARGS)

# The guide's programs (docs/guide.md, examples/guide/): SimCLR, MoCo,
# Instance Discrimination and CPC, one file each, on toy data (toy.c).
# `make guide` builds and runs them; scripts/check-guide.py checks that each
# learns (RESULT lines) and that docs/guide.md quotes them as they are.
GUIDE_NAMES := simclr moco instdisc cpc
GUIDE_BINS := $(GUIDE_NAMES:%=$(BUILD)/examples/guide-%)

$(BUILD)/examples/guide-%: examples/guide/%.c examples/guide/toy.c examples/guide/toy.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< examples/guide/toy.c $(STATIC) $(LIBS_ALL)

guide: $(GUIDE_BINS) | deps
	$(PYTHON) scripts/check-guide.py $(BUILD)/examples $(GUIDE_NAMES)
# The VIVI example (examples/vivi; docs/frames.md): synthetic videos of
# Fashion-MNIST items, VIVI's two-level loss vs frame-level SimCLR, a
# linear probe on single frames. VIVI_ARGS passes options (--help).
VIVI_BIN := $(BUILD)/examples/vivi
VIVI_ARGS ?=

$(VIVI_BIN): $(wildcard examples/vivi/*.c examples/vivi/*.h) examples/cpc-common/cpc_probe.c examples/cpc-common/cpc_probe.h examples/cpc-common/cpc_report.c examples/cpc-common/cpc_report.h examples/demo/fmnist.c examples/demo/fmnist.h examples/demo/augment.c examples/demo/augment.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL) -lz

run-vivi: $(VIVI_BIN) | deps
	$(VIVI_BIN) $(VIVI_ARGS)
# The CMC example (examples/cmc; docs/cmc.md): two views (top and bottom
# halves), two encoders, two banks, the cross-view NCE, with the demo's
# augmentations and the CPC examples' probe and report. CMC_ARGS pass
# options (--help), e.g. CMC_ARGS="--softmax".
CMC_BIN := $(BUILD)/examples/cmc
CMC_ARGS ?=

$(CMC_BIN): $(wildcard examples/cmc/*.c examples/cmc/*.h) $(CPC_COMMON) examples/demo/fmnist.c examples/demo/fmnist.h examples/demo/augment.c examples/demo/augment.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL) -lz

run-cmc: $(CMC_BIN) | deps
	$(CMC_BIN) $(CMC_ARGS)
# The video correspondence example (examples/correspondence; docs/frames.md):
# synthetic Fashion-MNIST clips, an encoder learned through the dense
# affinity's reconstruction loss, mask propagation. CORRESPONDENCE_ARGS
# passes options (--help).
CORRESPONDENCE_BIN := $(BUILD)/examples/correspondence
CORRESPONDENCE_ARGS ?=

$(CORRESPONDENCE_BIN): $(wildcard examples/correspondence/*.c examples/correspondence/*.h) $(CPC_COMMON) examples/demo/fmnist.c examples/demo/fmnist.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL) -lz -lm

run-correspondence: $(CORRESPONDENCE_BIN) | deps
	$(CORRESPONDENCE_BIN) $(CORRESPONDENCE_ARGS)
# The CRD example (examples/crd; docs/crd.md): a CNN teacher distilled into
# a small MLP student with CE, CE + KD and CE + KD + CRD on Fashion-MNIST.
# CRD_ARGS pass options (--help), e.g. CRD_ARGS="--seed 2".
CRD_BIN := $(BUILD)/examples/crd
CRD_ARGS ?=

$(CRD_BIN): $(wildcard examples/crd/*.c examples/crd/*.h) examples/cpc-common/cpc_report.c examples/cpc-common/cpc_report.h examples/demo/fmnist.c examples/demo/fmnist.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(STATIC) $(LIBS_ALL) -lz

run-crd: $(CRD_BIN) | deps
	$(CRD_BIN) $(CRD_ARGS)

# ---- benchmarks ------------------------------------------------------------------
# Each bench/bench_<group>.c is a standalone program linked against the
# static library; bench/run.py runs each at 1 and 2 BLAS threads, runs the
# PyTorch counterparts bench/torch_<group>.py when /usr/bin/python3 has
# torch, and writes bench/results.json. `make bench CASES=a,b` runs a subset;
# ROUNDS=3 repeats everything and keeps the median of the rounds.
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
BENCH_PYTHON ?= /usr/bin/python3
CASES ?=
ROUNDS ?= 1

$(BUILD)/bench/%: bench/%.c bench/bench_util.h $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_LIB) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(STATIC) $(LIBS_ALL)

bench: $(BENCH_BINS) | deps
	$(BENCH_PYTHON) bench/run.py --bin-dir $(BUILD)/bench --out bench/results.json \
	    --rounds $(ROUNDS) $(if $(CASES),--cases $(CASES))

# ---- install ---------------------------------------------------------------------
# The installed metadata holds the install directories: remake it when they
# change (make install PREFIX=/usr after a build for /usr/local).
$(BUILD)/install-dirs: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(CMAKEDIR)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

contrastive.pc: contrastive.pc.in $(HEADER) $(BUILD)/flags $(BUILD)/install-dirs
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@BLAS_REQUIRES@|$(BLAS_PC)|' \
	    -e 's|@BLAS_LIBS_PRIVATE@|$(BLAS_LIBS_PRIVATE)|' $< > $@

# The CMake package (cmake/*.in, docs/install.md): paths, the shared
# library's names and the static library's link dependencies.
empty :=
space := $(empty) $(empty)
SIZEOF_POINTER = $(shell echo | $(CC) -dM -E - | sed -n 's/^\#define __SIZEOF_POINTER__ //p')
CMAKE_FILES := $(BUILD)/cmake/contrastiveConfig.cmake $(BUILD)/cmake/contrastiveConfigVersion.cmake
$(BUILD)/cmake/%.cmake: cmake/%.cmake.in $(HEADER) $(BUILD)/flags $(BUILD)/install-dirs
	@mkdir -p $(@D)
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
	    -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' -e 's|@SIZEOF_POINTER@|$(SIZEOF_POINTER)|g' \
	    -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@CMAKEDIR@|$(CMAKEDIR)|g' -e 's|@SHARED_REAL@|$(notdir $(SHARED_REAL))|g' \
	    -e 's|@SONAME@|$(SHARED_SONAME)|g' \
	    -e 's|@BLAS_LIBS@|$(subst $(space),;,$(strip $(BLAS_LIBS)))|g' $< > $@

install: all contrastive.pc $(CMAKE_FILES) $(DEMO_BIN)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/contrastive $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	$(INSTALL) -d $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(MANDIR)/man3
	$(INSTALL) -m 755 $(DEMO_BIN) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(SHARED_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHARED_REAL)) $(DESTDIR)$(LIBDIR)/$(SHARED_SONAME)
	ln -sf $(SHARED_SONAME) $(DESTDIR)$(LIBDIR)/libcontrastive.so
	$(INSTALL) -m 644 $(HEADER) $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 include/contrastive/*.h $(DESTDIR)$(INCLUDEDIR)/contrastive/
	$(INSTALL) -m 644 contrastive.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 644 $(CMAKE_FILES) $(DESTDIR)$(CMAKEDIR)/
	$(INSTALL) -m 644 $(MAN_DIR)/man3/*.3 $(DESTDIR)$(MANDIR)/man3/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libcontrastive.a $(DESTDIR)$(LIBDIR)/$(notdir $(SHARED_REAL))
	rm -f $(DESTDIR)$(LIBDIR)/$(SHARED_SONAME) $(DESTDIR)$(LIBDIR)/libcontrastive.so
	rm -f $(DESTDIR)$(INCLUDEDIR)/contrastive.h $(DESTDIR)$(PKGCONFIGDIR)/contrastive.pc
	rm -f $(DESTDIR)$(BINDIR)/contrastive-demo
	rm -rf $(DESTDIR)$(INCLUDEDIR)/contrastive $(DESTDIR)$(CMAKEDIR)
	rm -f $(DESTDIR)$(MANDIR)/man3/contrastive.3 $(DESTDIR)$(MANDIR)/man3/libcontrastive.3
	rm -f $(DESTDIR)$(MANDIR)/man3/ctr_*.3

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(TSAN_BUILD) contrastive.pc lib/libcontrastive.a lib/libcontrastive.so*

FORCE:

# ---- the MPI adapter (optional; docs/distributed.md) -------------------------------
# libcontrastive-mpi (src/mpi/): a ctr_comm over an MPI_Comm, a library of
# its own with its header and contrastive-mpi.pc; the core never links MPI.
#   make MPI=1          also build lib/libcontrastive-mpi.{a,so}
#   make check-mpi      the equivalence tests under mpirun -np 2 and -np 4
#   make install-mpi    header, libraries, contrastive-mpi.pc (uninstall-mpi)
#   make bench-mpi      images/s and MPI share of a SimCLR step, 1 vs 2 ranks
# Needs Open MPI (scripts/install-deps.sh mpi: libopenmpi-dev openmpi-bin).
MPI ?=
MPICC ?= mpicc
MPIRUN ?= mpirun
MPIRUN_FLAGS ?= --oversubscribe $(if $(filter 0,$(shell id -u)),--allow-run-as-root)
MPI_SRCS := $(wildcard src/mpi/*.c)
MPI_OBJS := $(MPI_SRCS:src/%.c=$(BUILD)/src/%.o)
MPI_STATIC := lib/libcontrastive-mpi.a
MPI_SHARED_REAL := lib/libcontrastive-mpi.so.$(VERSION)
MPI_SONAME := libcontrastive-mpi.so.$(VERSION_MAJOR)
MPI_SHARED := lib/$(MPI_SONAME) lib/libcontrastive-mpi.so
MPI_TEST := $(BUILD)/tests/mpi/mpi_equiv
MPI_CC = OMPI_CC=$(CC) $(MPICC)

.PHONY: mpi check-mpi install-mpi uninstall-mpi mpi-deps
all: $(if $(filter 1,$(MPI)),mpi)

mpi-deps:
	@$(if $(NO_DEPS),true,BLAS=$(BLAS) CC=$(CC) sh scripts/install-deps.sh mpi)

$(MPI_OBJS): $(BUILD)/src/mpi/%.o: src/mpi/%.c src/mpi/contrastive-mpi.h $(PUBLIC_HDRS) $(BUILD)/flags | mpi-deps
	@mkdir -p $(@D)
	$(MPI_CC) -Iinclude -Isrc/mpi $(CFLAGS_ALL) -c $< -o $@

$(MPI_STATIC): $(MPI_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(MPI_SHARED_REAL): $(MPI_OBJS) $(SHARED) src/mpi/libcontrastive-mpi.map
	$(MPI_CC) -shared $(CFLAGS_ALL) $(LDFLAGS_ALL) $(NO_UNDEFINED) \
	    -Wl,-soname,$(MPI_SONAME) -Wl,--version-script=src/mpi/libcontrastive-mpi.map \
	    -o $@ $(MPI_OBJS) -Llib -lcontrastive

$(MPI_SHARED): $(MPI_SHARED_REAL)
	ln -sf $(notdir $(MPI_SHARED_REAL)) $@

contrastive-mpi.pc: src/mpi/contrastive-mpi.pc.in $(HEADER) $(BUILD)/flags
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@MPI_REQUIRES@|$(shell pkg-config --exists ompi-c && echo ompi-c)|' $< > $@

mpi: $(MPI_STATIC) $(MPI_SHARED) contrastive-mpi.pc

$(MPI_TEST): tests/mpi/mpi_equiv.c tests/dist_scenario.h tests/dist_bank.h $(MPI_STATIC) $(STATIC)
	@mkdir -p $(@D)
	$(MPI_CC) -Iinclude -Isrc/mpi -Itests -D_POSIX_C_SOURCE=200809L $(CFLAGS_ALL) $(LDFLAGS_ALL) \
	    -o $@ $< $(MPI_STATIC) $(STATIC) $(LIBS_ALL)

# Equivalence of 2 and 4 ranks with one process (tests/mpi/mpi_equiv.c).
# Under SANITIZE=1 leak reports are off: Open MPI keeps its own blocks.
# (defined before check-mpi: a rule's prerequisites expand when it is read)
DEMO_MPI_BIN := $(BUILD)/examples/contrastive-demo-mpi
DEMO_MPI_SRCS := $(filter-out examples/demo/entry.c,$(DEMO_SRCS)) examples/demo-mpi/main.c
check-mpi: $(MPI_TEST) $(DEMO_MPI_BIN) $(DEMO_BIN)
	$(if $(SANITIZE),ASAN_OPTIONS=detect_leaks=0) $(MPIRUN) $(MPIRUN_FLAGS) -np 2 $(MPI_TEST)
	$(if $(SANITIZE),ASAN_OPTIONS=detect_leaks=0) $(MPIRUN) $(MPIRUN_FLAGS) -np 4 $(MPI_TEST)
	$(if $(SANITIZE),ASAN_OPTIONS=detect_leaks=0) MPIRUN="$(MPIRUN) $(MPIRUN_FLAGS)" \
	    sh scripts/demo-mpi-smoke.sh $(DEMO_BIN) $(DEMO_MPI_BIN)

# The demo trained data-parallel (examples/demo-mpi/: the demo's sources with
# an MPI entry point, linked with libcontrastive-mpi; docs/distributed.md):
#   make run-demo-mpi [MPI_NP=2] [DEMO_ARGS="--method moco ..."]
MPI_NP ?= 2
$(DEMO_MPI_BIN): $(DEMO_MPI_SRCS) $(wildcard examples/demo/*.h) $(MPI_STATIC) $(STATIC) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(MPI_CC) -Iinclude -Isrc/mpi $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(DEMO_MPI_SRCS) \
	    $(MPI_STATIC) $(STATIC) $(LIBS_ALL) -lz
.PHONY: run-demo-mpi
run-demo-mpi: $(DEMO_MPI_BIN) | deps
	$(MPIRUN) $(MPIRUN_FLAGS) -np $(MPI_NP) $(DEMO_MPI_BIN) $(DEMO_ARGS)

# images/s of the demo's step, 1 process x 2 BLAS threads against 2 ranks x 1,
# and the 2-rank step's MPI share (scripts/demo-mpi-bench.sh). Quiet machine.
.PHONY: bench-demo-mpi
bench-demo-mpi: $(DEMO_MPI_BIN) $(DEMO_BIN) | deps
	MPIRUN="$(MPIRUN) $(MPIRUN_FLAGS)" sh scripts/demo-mpi-bench.sh $(DEMO_BIN) $(DEMO_MPI_BIN)

install-mpi: mpi
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 644 $(MPI_STATIC) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(MPI_SHARED_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(MPI_SHARED_REAL)) $(DESTDIR)$(LIBDIR)/$(MPI_SONAME)
	ln -sf $(notdir $(MPI_SHARED_REAL)) $(DESTDIR)$(LIBDIR)/libcontrastive-mpi.so
	$(INSTALL) -m 644 src/mpi/contrastive-mpi.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 contrastive-mpi.pc $(DESTDIR)$(PKGCONFIGDIR)/

uninstall-mpi:
	rm -f $(DESTDIR)$(LIBDIR)/libcontrastive-mpi.a $(DESTDIR)$(LIBDIR)/$(notdir $(MPI_SHARED_REAL))
	rm -f $(DESTDIR)$(LIBDIR)/$(MPI_SONAME) $(DESTDIR)$(LIBDIR)/libcontrastive-mpi.so
	rm -f $(DESTDIR)$(INCLUDEDIR)/contrastive-mpi.h $(DESTDIR)$(PKGCONFIGDIR)/contrastive-mpi.pc

# images/s of a data-parallel SimCLR step (the demo's "cnn" encoder, B = 256)
# and its MPI share: one process with 2 BLAS threads, then 2 ranks with 1
# (docs/distributed.md). Timings: run on a quiet machine.
MPI_BENCH := $(BUILD)/tests/mpi/mpi_step_bench
$(MPI_BENCH): tests/mpi/mpi_step_bench.c $(MPI_STATIC) $(STATIC)
	@mkdir -p $(@D)
	$(MPI_CC) -Iinclude -Isrc/mpi -D_POSIX_C_SOURCE=200809L $(CFLAGS_ALL) $(LDFLAGS_ALL) \
	    -o $@ $< $(MPI_STATIC) $(STATIC) $(LIBS_ALL)
.PHONY: bench-mpi
bench-mpi: $(MPI_BENCH)
	$(MPIRUN) $(MPIRUN_FLAGS) -np 1 -x OPENBLAS_NUM_THREADS=2 $(MPI_BENCH) 256 10
	$(MPIRUN) $(MPIRUN_FLAGS) -np 2 -x OPENBLAS_NUM_THREADS=1 $(MPI_BENCH) 256 10

# ---- Python package (bindings/python, docs/python.md) ------------------------
#   make check-python     the ctypes declarations and constants against the
#                         headers and the map, then the pytest suite (and
#                         examples/python on a tiny subset); needs numpy and
#                         pytest (python3-numpy, python3-pytest), uses torch if
#                         the interpreter has it
#   make install-python   pip install of the package (interpreter PY), offline (Debian's
#                         setuptools, --no-build-isolation); PIP_FLAGS adds
#                         options (--prefix=..., --break-system-packages on a
#                         PEP 668 system Python, or run it inside a venv)
#   make bench-python     Python call overhead and the torch adapter vs PyTorch
PY ?= $(shell command -v /usr/bin/python3 || command -v python3)
PIP_FLAGS ?=
PY_LIB_ENV = CONTRASTIVE_LIBRARY=$(CURDIR)/lib/$(SHARED_SONAME)
.PHONY: check-python install-python uninstall-python bench-python
check-python: $(SHARED)
	$(PY_LIB_ENV) $(PY) bindings/python/tools/gen_signatures.py --check
	$(PY_LIB_ENV) $(PY) bindings/python/tools/gen_constants.py --check
	$(PY_LIB_ENV) $(PY) -m pytest -q -p no:cacheprovider bindings/python/tests
install-python:
	$(PY) -m pip install --no-index --no-build-isolation --no-deps $(PIP_FLAGS) ./bindings/python
	rm -rf bindings/python/build bindings/python/contrastive.egg-info
uninstall-python:
	$(PY) -m pip uninstall -y $(PIP_UNINSTALL_FLAGS) contrastive
bench-python: $(SHARED)
	$(PY_LIB_ENV) $(PY) bindings/python/bench/bench_python.py
