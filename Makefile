# Makefile - the one build system of dxtrace.
#
#   make                 build everything under build/ (CUDA parts too where nvcc is found)
#   make test            run every test (tests/run.sh); installs missing packages first (root)
#   make accuracy        issue 11's sweeps: 200 healthy randomized traces, then the fault table
#   make demo            simulate a 16-rank job with one slow rank, analyze it, draw it
#   make bench           print the benchmarks (record cost, writer throughput, sizes, analysis)
#   make install PREFIX=/usr/local   library (LIBDIR), headers (INCLUDEDIR/dxtrace/),
#                        dxtrec.pc, tools, the Python package (PYTHONDIR); DESTDIR honoured
#   make uninstall       remove what make install put there (same PREFIX, LIBDIR, ...)
#   make deps            install the Debian packages dxtrace needs (as root); only `make deps`,
#                        `make test` and `make demo` ever install anything, plain `make` and
#                        `make install` only check and print the apt-get line
#   make SAN=1 test      the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make TSAN=1 test-threads   the recorder's thread tests under ThreadSanitizer (build-tsan/)
#   make fuzz            run every libFuzzer target for FUZZ_SECONDS each (clang)
#
# Layout: format/ and recorder/ make libdxtrec (.a and .so, only the public API visible);
# format/ and analyzer/ (a folder per stage) make libdxtanalysis.so (public header
# analyzer/dxtanalysis.h; the Python live mode loads it); analyzer/, plots/ and samples/*.c
# make an internal archive libdxt.a that the command lines of tools/ and the tests link.
# Every .c file is picked up by its folder: adding a source file needs no change here.

VERSION := 1.1.0
# every C compile, the fuzz targets' too: the tools' --version and the report's generator
VERSION_FLAG := -DDXT_VERSION='"$(VERSION)"'
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
# where Debian's python3 looks under PREFIX (/usr/local/lib/python3.11/dist-packages)
PYTHON_VERSION := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(LIBDIR)/python$(or $(PYTHON_VERSION),3)/dist-packages
BUILD   ?= build
CC      ?= cc
REC_PKGS  := hdf5-serial
TOOL_PKGS := jansson

ifeq ($(SAN),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
ifeq ($(TSAN),1)
BUILD   := build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif

# pkg-config is asked only when a target needs to compile: `make deps` must work without it.
# The recorder needs HDF5 only (the GPU machine has no jansson); the tools need jansson too.
# Without pkg-config's hdf5-serial (the GPU machine), Debian/Ubuntu's serial HDF5 paths.
HDF5_SERIAL_LIBDIR := /usr/lib/x86_64-linux-gnu/hdf5/serial
REC_CFLAGS = $(or $(shell pkg-config --cflags $(REC_PKGS) 2>/dev/null),\
               $(if $(wildcard /usr/include/hdf5/serial/hdf5.h),-I/usr/include/hdf5/serial))
REC_LIBS   = $(or $(shell pkg-config --libs $(REC_PKGS) 2>/dev/null),\
               $(if $(wildcard $(HDF5_SERIAL_LIBDIR)),-L$(HDF5_SERIAL_LIBDIR)) -lhdf5)
# The analyzer inflates trace chunks itself (analyzer/input/chunk_decode.c): with libdeflate
# when pkg-config finds it (scripts/deps.sh installs it; about twice zlib's speed), else zlib
# (always there with HDF5).
INFLATE_CFLAGS = $(if $(shell pkg-config --exists libdeflate 2>/dev/null && echo y),\
                   -DDXT_HAVE_LIBDEFLATE $(shell pkg-config --cflags libdeflate))
INFLATE_LIBS   = $(if $(INFLATE_CFLAGS),$(shell pkg-config --libs libdeflate),\
                   $(or $(shell pkg-config --libs zlib 2>/dev/null),-lz))
PKG_CFLAGS = $(REC_CFLAGS) $(shell pkg-config --cflags $(TOOL_PKGS) 2>/dev/null) $(INFLATE_CFLAGS)
PKG_LIBS   = $(REC_LIBS) $(shell pkg-config --libs $(TOOL_PKGS) 2>/dev/null) $(INFLATE_LIBS)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)
# The GPU machine has no jansson: JANSSON_DIR=DIR with include/ and lib/ (Debian's
# libjansson-dev and libjansson4 unpacked; tests/gpu/run_live.sh) for libdxtanalysis there.
ifneq ($(JANSSON_DIR),)
PKG_CFLAGS += -I$(JANSSON_DIR)/include
PKG_LIBS   += -L$(JANSSON_DIR)/lib -Wl,-rpath,$(abspath $(JANSSON_DIR)/lib) -ljansson
endif

ANALYZER_DIRS := analyzer $(patsubst %/,%,$(sort $(dir $(wildcard analyzer/*/*.c))))
DXT_INCLUDES := -Iformat -Irecorder $(addprefix -I,$(ANALYZER_DIRS)) -Iplots -Isamples
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -fvisibility=hidden -pthread \
           $(DXT_INCLUDES) $(VERSION_FLAG) $(SANFLAGS)
LDFLAGS += -pthread $(SANFLAGS)
LDLIBS  += -lm

# --- CUDA (optional) ---------------------------------------------------------
NVCC ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
ifneq ($(NVCC),)
ifneq ($(NOCUDA),1)
CUDA_HOME   := $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_INC    := $(firstword $(wildcard $(CUDA_HOME)/include/cuda_runtime_api.h /usr/include/cuda_runtime_api.h))
CUDA_CFLAGS := -DDXT_HAVE_CUDA -I$(dir $(CUDA_INC))
CUDA_LIBDIR := $(firstword $(wildcard $(CUDA_HOME)/lib64/libcudart.so /usr/lib/x86_64-linux-gnu/libcudart.so))
# the tools and tests run from the build tree: an rpath; libdxtrec.so gets none (the system's
# loader finds libcudart, as for any CUDA program), and dxtrec.pc names -lcudart for static links
CUDA_LINK   := -L$(dir $(CUDA_LIBDIR)) -lcudart
CUDA_LIBS   := -L$(dir $(CUDA_LIBDIR)) -Wl,-rpath,$(dir $(CUDA_LIBDIR)) -lcudart
NVCCFLAGS   ?= -O2 -g -arch=sm_90 -std=c++17 -Xcompiler -Wall,-Wextra,-Werror,-fPIC \
               -Iformat -Irecorder -Isamples
HAVE_CUDA   := 1
# NCCL (>= 2.28, device API) for dxt-ep-nccl, built only where nccl_device.h and libnccl are
# found under NCCL_HOME: CUDA's dir by default; NCCL_HOME=/usr for Debian's, pip's nvidia/nccl,
# or NCCL_INC=dir NCCL_LIB=file (tests/gpu/run_nccl.sh picks one that matches its library)
NCCL_HOME   ?= $(CUDA_HOME)
NCCL_INC    ?= $(patsubst %/nccl_device.h,%,$(firstword $(wildcard $(NCCL_HOME)/include/nccl_device.h)))
NCCL_LIB    ?= $(firstword $(wildcard $(NCCL_HOME)/lib64/libnccl.so $(NCCL_HOME)/lib/libnccl.so \
               $(NCCL_HOME)/lib/libnccl.so.2 $(NCCL_HOME)/lib/x86_64-linux-gnu/libnccl.so))
# every file sees the define (dxtrec.c calls the CUDA path's hooks under it);
# only *_cuda.c gets the CUDA include path
CFLAGS      += -DDXT_HAVE_CUDA
endif
endif

# --- MPI (optional): dxt-analyze under mpirun ---------------------------------------
# tools/mpi/ (the glue) is built with OpenMPI where pkg-config knows ompi-c (scripts/deps.sh
# installs it as root; nothing requires it), else without; MPI=0: without. Only dxt-analyze
# links it, and a plain dxt-analyze never starts MPI.
MPI ?= 1
MPI_PKG    = $(if $(filter 1,$(MPI)),$(shell pkg-config --exists ompi-c 2>/dev/null && echo ompi-c))
MPI_CFLAGS = $(if $(MPI_PKG),-DDXT_HAVE_MPI $(shell pkg-config --cflags $(MPI_PKG)))
MPI_LIBS   = $(if $(MPI_PKG),$(shell pkg-config --libs $(MPI_PKG)))

# --- sources -------------------------------------------------------------------
CUDA_C_SRC  := $(wildcard recorder/*_cuda.c)
LIBREC_SRC  := $(wildcard format/*.c) $(filter-out $(CUDA_C_SRC),$(wildcard recorder/*.c))
ifeq ($(HAVE_CUDA),1)
LIBREC_SRC  += $(CUDA_C_SRC)
TOOL_LDLIBS := $(CUDA_LIBS)
SO_LDLIBS   := $(CUDA_LINK)
endif
# recorder/*.cu (the step kernel): compiled by nvcc into libdxtrec in CUDA builds, without
# exceptions and thread-safe statics, so that libdxtrec links with cc and needs no libstdc++
CUDA_CU_SRC := $(wildcard recorder/*.cu)
LIBREC_CU_FLAGS := -Xcompiler -fvisibility=hidden,-fno-exceptions,-fno-threadsafe-statics
ANALYSIS_SRC := $(wildcard $(addsuffix /*.c,$(ANALYZER_DIRS)))
LIBDXT_SRC  := $(ANALYSIS_SRC) $(wildcard plots/*.c samples/*.c)
TEST_SRC    := $(wildcard tests/test_*.c)
BENCH_SRC   := $(wildcard bench/bench_*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIBREC_OBJ  := $(call obj,$(LIBREC_SRC))
ifeq ($(HAVE_CUDA),1)
LIBREC_OBJ  += $(patsubst %.cu,$(BUILD)/obj/%.cu.o,$(CUDA_CU_SRC))
endif
LIBDXT_OBJ  := $(call obj,$(LIBDXT_SRC))
TOOL_MPI_OBJ := $(call obj,$(wildcard tools/mpi/*.c))

LIBREC_A  := $(BUILD)/lib/libdxtrec.a
LIBREC_SO := $(BUILD)/lib/libdxtrec.so
LIBDXT_A  := $(BUILD)/lib/libdxt.a
LIBANA_SO := $(BUILD)/lib/libdxtanalysis.so
BINS      := $(BUILD)/bin/dxt-analyze $(BUILD)/bin/dxt-synth
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# each libFuzzer target also as a plain replay tool (tests/fuzz/replay.c) for make test
FUZZ_REPLAYS := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/fuzz/replay_%,$(FUZZ_SRC))
ifeq ($(HAVE_CUDA),1)
CU_BINS   := $(if $(wildcard samples/ep_gpu.cu),$(BUILD)/bin/dxt-ep-gpu)
CU_BINS   += $(if $(and $(NCCL_INC),$(NCCL_LIB),$(wildcard samples/ep_nccl.cu)),$(BUILD)/bin/dxt-ep-nccl)
endif
LINK_LIBS  = $(LIBDXT_A) $(LIBREC_A) $(PKG_LIBS) $(TOOL_LDLIBS) $(LDLIBS)

# Objects of tests and benches are intermediate files to make: keep them.
.SECONDARY:
.PHONY: FORCE all gpu test demo bench install uninstall deps deps-check clean fuzz test-threads accuracy
all: $(LIBREC_A) $(LIBREC_SO) $(LIBANA_SO) $(BINS) $(TESTS) $(BENCHES) $(CU_BINS) $(FUZZ_REPLAYS)

$(BUILD)/obj/%.o: %.c | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(if $(filter %_cuda.c,$<),$(CUDA_CFLAGS)) \
	    $(if $(filter tools/mpi/%,$<),$(MPI_CFLAGS)) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu | deps-check
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(LIBREC_CU_FLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(LIBREC_A): $(LIBREC_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBREC_SO): $(LIBREC_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libdxtrec.so.1 -o $@ $^ $(REC_LIBS) $(SO_LDLIBS) $(LDLIBS)

$(LIBDXT_A): $(LIBDXT_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# the analysis as a shared library: format/ and analyzer/, only DXTA_API symbols visible
$(LIBANA_SO): $(call obj,$(wildcard format/*.c) $(ANALYSIS_SRC))
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libdxtanalysis.so.1 -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# the command lines: tools/<name>.c; dxt-analyze with its MPI glue (tools/mpi/), compiled
# again when MPI comes or goes (OpenMPI installed after a build, MPI=0): a stamp of its flags
MPI_STAMP := $(BUILD)/obj/tools/mpi/flags
$(MPI_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(MPI_CFLAGS)' | cmp -s - $@ || echo '$(MPI_CFLAGS)' > $@
$(TOOL_MPI_OBJ): $(MPI_STAMP)
FORCE:

$(BUILD)/bin/dxt-analyze: $(BUILD)/obj/tools/dxt-analyze.o $(TOOL_MPI_OBJ) $(LIBDXT_A) $(LIBREC_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(if $(MPI_CFLAGS),$(MPI_LIBS))

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBDXT_A) $(LIBREC_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LINK_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBDXT_A) $(LIBREC_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(CMOCKA_LIBS)

# the format suites share their fixtures (temporary directory, hand-made files)
$(BUILD)/tests/test_format $(BUILD)/tests/test_format_crash: $(BUILD)/obj/tests/format_fixtures.o
# and the classifier suites theirs (topology, healthy windows, random numbers)
$(BUILD)/tests/test_classify $(BUILD)/tests/test_classify_static $(BUILD)/tests/test_join: \
    $(BUILD)/obj/tests/classify_fixtures.o

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBDXT_A) $(LIBREC_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LINK_LIBS)

$(BUILD)/fuzz/replay_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIBDXT_A) $(LIBREC_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_LIBS)

# CUDA sample: the LL-style exchange on one GPU
EP_GPU_CU := samples/ep_gpu.cu samples/ep_gpu_bench.cu
$(BUILD)/bin/dxt-ep-gpu: $(EP_GPU_CU) samples/ep_gpu.h samples/ep_gpu_kernel.cuh $(LIBREC_A) \
                         $(wildcard recorder/*.cuh)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -o $@ $(EP_GPU_CU) $(LIBREC_A) $(REC_LIBS) -lm

# CUDA sample: the EP exchange across GPUs through NCCL, one process per GPU (NCCL_INC first,
# so that the headers match the library)
EP_NCCL_CU := samples/ep_nccl.cu samples/ep_nccl_cli.cu
$(BUILD)/bin/dxt-ep-nccl: $(EP_NCCL_CU) samples/ep_nccl.h $(LIBREC_A) $(wildcard recorder/*.cuh samples/*.cuh)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(if $(filter /usr/include /usr/include/,$(NCCL_INC)),,-I$(NCCL_INC)) \
	    -o $@ $(EP_NCCL_CU) $(LIBREC_A) $(REC_LIBS) -L$(dir $(NCCL_LIB)) -l:$(notdir $(NCCL_LIB)) \
	    -Xlinker -rpath,$(dir $(NCCL_LIB)) -lm

# --- the README's two commands and friends -------------------------------------
deps:
	@scripts/deps.sh

# Every build first checks that the packages are there, and stops with the exact
# apt-get line when not; it never installs (`make deps`, `make test` and
# `make demo` do). NODEPS=1 skips it (the GPU machine: Ubuntu, no network;
# build only `make NODEPS=1 gpu` there).
deps-check:
	@[ "$(NODEPS)" = 1 ] || scripts/deps.sh --check

# What the GPU machine builds: the recorder and the CUDA sample.
gpu: $(LIBREC_A) $(LIBREC_SO) $(CU_BINS)

# The README's two commands install what is missing first (as root), then build.
test:
	@[ "$(NODEPS)" = 1 ] || scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(BUILD)

# dxt-analyze judged on randomized dxt-synth traces (tests/accuracy/sweep.py; ACCURACY_ARGS
# e.g. --jobs 8 --seed-base N): the healthy sweep fails on any finding.
accuracy: all
	@DXT_BUILD=$(BUILD) /usr/bin/python3 tests/accuracy/sweep.py healthy --count 200 $(ACCURACY_ARGS); \
	h=$$?; DXT_BUILD=$(BUILD) /usr/bin/python3 tests/accuracy/sweep.py faults $(ACCURACY_ARGS); exit $$h

# The recorder's thread tests, its disk-fault tests, the soak (8 threads x
# DXT_SOAK_RECORDS rows each into a small ring with a slow writer), the analyzer's
# chunk decoder and parallel for, and a whole analysis with 3 threads (reading,
# decoding and summing, and one op classified while the next is read) under
# ThreadSanitizer.
DXT_SOAK_RECORDS ?= 10000000
TSAN_TRACE := build-tsan/trace-threads
test-threads:
	$(MAKE) TSAN=1 build-tsan/tests/test_recorder build-tsan/tests/test_recorder_faults \
	    build-tsan/tests/test_soak build-tsan/tests/test_chunk_decode \
	    build-tsan/bin/dxt-synth build-tsan/bin/dxt-analyze
	TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" build-tsan/tests/test_chunk_decode
	rm -rf $(TSAN_TRACE) && build-tsan/bin/dxt-synth -q -j 1 -n 16 -t 300 -o $(TSAN_TRACE) \
	    --fault slow_source:rank=5,onset=100
	TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" DXT_THREADS=3 \
	    build-tsan/bin/dxt-analyze $(TSAN_TRACE) >/dev/null
	TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" build-tsan/tests/test_recorder
	TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" build-tsan/tests/test_recorder_faults
	TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" DXT_SOAK_RECORDS=$(DXT_SOAK_RECORDS) \
	    build-tsan/tests/test_soak

demo:
	@[ "$(NODEPS)" = 1 ] || scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD)

bench: all
	@scripts/bench.sh $(BUILD)

# Installed: LIBDIR/libdxtrec.{a,so.1,so}, INCLUDEDIR/dxtrace/{dxtrec.h,dxt_probe.cuh},
# LIBDIR/pkgconfig/dxtrec.pc, BINDIR/dxt-analyze and dxt-synth, PYTHONDIR/dxtrace/.
INSTALLED_BINS := $(notdir $(BINS))
install: $(LIBREC_A) $(LIBREC_SO) $(LIBANA_SO) $(BINS)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/dxtrace $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(PYTHONDIR)/dxtrace
	install -m 644 $(LIBREC_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBREC_SO) $(DESTDIR)$(LIBDIR)/libdxtrec.so.1
	ln -sf libdxtrec.so.1 $(DESTDIR)$(LIBDIR)/libdxtrec.so
	install -m 755 $(LIBANA_SO) $(DESTDIR)$(LIBDIR)/libdxtanalysis.so.1
	ln -sf libdxtanalysis.so.1 $(DESTDIR)$(LIBDIR)/libdxtanalysis.so
	install -m 644 recorder/dxtrec.h $(wildcard recorder/dxt_probe.cuh) analyzer/dxtanalysis.h \
	    format/dxt_format.h $(DESTDIR)$(INCLUDEDIR)/dxtrace/
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 644 python/dxtrace/*.py $(DESTDIR)$(PYTHONDIR)/dxtrace/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES@|$(REC_PKGS)|' \
	    -e 's|@LIBS_PRIVATE@|$(strip $(SO_LDLIBS) -lpthread -lm)|' recorder/dxtrec.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/dxtrec.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libdxtrec.a $(DESTDIR)$(LIBDIR)/libdxtrec.so.1 \
	    $(DESTDIR)$(LIBDIR)/libdxtrec.so $(DESTDIR)$(LIBDIR)/pkgconfig/dxtrec.pc \
	    $(DESTDIR)$(LIBDIR)/libdxtanalysis.so.1 $(DESTDIR)$(LIBDIR)/libdxtanalysis.so \
	    $(addprefix $(DESTDIR)$(INCLUDEDIR)/dxtrace/,dxtrec.h dxt_probe.cuh dxtanalysis.h dxt_format.h) \
	    $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALLED_BINS))
	rm -rf $(DESTDIR)$(PYTHONDIR)/dxtrace
	-rmdir $(DESTDIR)$(INCLUDEDIR)/dxtrace 2>/dev/null

# --- fuzzing (owner: reliability, tests/fuzz/) -----------------------------------
# `make fuzz FUZZ_SECONDS=N`: every tests/fuzz/fuzz_<name>.c built with clang's
# libFuzzer + ASan + UBSan against the project's sources (compiled again with clang
# into build-fuzz/), then run N seconds each on tests/fuzz/corpus/<name>/
# (new inputs go to build-fuzz/corpus/<name>/, crashes to build-fuzz/crashes/).
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread \
                $(DXT_INCLUDES) $(VERSION_FLAG) $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_LIB_SRC := $(filter-out $(CUDA_C_SRC),$(wildcard format/*.c recorder/*.c)) $(LIBDXT_SRC)
FUZZ_LIB_A   := $(FUZZ_BUILD)/lib/libfuzzsrc.a
FUZZ_BINS    := $(patsubst tests/fuzz/fuzz_%.c,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_SRC))

$(FUZZ_BUILD)/obj/%.o: %.c | deps-check
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_LIB_A): $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIB_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_A)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $^ $(PKG_LIBS) -lm

fuzz: $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(shell find $(BUILD)/obj $(if $(filter fuzz build-fuzz/%,$(MAKECMDGOALS)),$(FUZZ_BUILD)/obj) -name '*.d' 2>/dev/null)
