# GPT-2 optimizer-comparison trainer.
#   make              train_gpt2cu (CUDA, bf16) and train_gpt2cpu (fp32 CPU reference)
#   make test         builds and runs every test; ends with "N passed, N failed, N skipped"
#   make dev          builds every dev/cuda kernel check into build/dev/
#   make emu          builds the CUDA programs for the CPU emulator into build/emu/ (test/cuda_emu)
#   make profile_gpt2 one d12 training step for Nsight (scripts/profile.sh)
#   make clean
# Knobs: GPU_ARCH=90 (compute capability, default Hopper), PRECISION=BF16|FP32,
#        NATIVE=1 adds -O3 -march=native to the CPU build (off: results independent of the host),
#        BLAS=1 (default) runs the CPU trainer's matrix products through OpenBLAS's cblas_sgemm
#        (-DUSE_BLAS -lopenblas); BLAS=0 builds it on the reference loops of cpu/ alone.

GPU_ARCH ?= 90
PRECISION ?= BF16
NATIVE ?= 0
BLAS ?= 1
PYTHON ?= /usr/bin/python3

NVCC ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CXX ?= g++

CXXFLAGS = -std=c++17 -O2 -fopenmp -pthread -Wall
ifeq ($(NATIVE),1)
  CXXFLAGS += -O3 -march=native
endif
# CPU trainer and CPU tests only: the CUDA programs keep the reference loops.
ifeq ($(BLAS),1)
  CPU_BLAS_FLAGS = -DUSE_BLAS
  CPU_BLAS_LIBS = -lopenblas
else ifneq ($(BLAS),0)
  $(error BLAS must be 0 or 1, got $(BLAS))
endif

ifeq ($(PRECISION),FP32)
  PRECISION_FLAG = -DENABLE_FP32
else ifeq ($(PRECISION),BF16)
  PRECISION_FLAG = -DENABLE_BF16
else
  $(error PRECISION must be BF16 or FP32, got $(PRECISION))
endif

NVCCFLAGS = -O3 -std=c++17 -gencode arch=compute_$(GPU_ARCH),code=sm_$(GPU_ARCH) \
            --use_fast_math -Xcompiler -fopenmp,-pthread $(PRECISION_FLAG)
NVCC_LIBS = -lcublas -lcublasLt -Xlinker -rpath,$(CUDA_HOME)/lib64

HOST_HEADERS = $(wildcard common/*.h cpu/*.h optim/*.h)
CUDA_HEADERS = $(wildcard kernels/*.cuh optim/*.cuh)
DEV_CUDA_SOURCES = $(wildcard dev/cuda/*.cu)
DEV_CUDA_BINS = $(patsubst dev/cuda/%.cu,build/dev/%,$(DEV_CUDA_SOURCES))

.PHONY: all test dev clean shared-data
all: train_gpt2cu train_gpt2cpu

train_gpt2cpu: train_gpt2.cpp $(HOST_HEADERS)
	$(CXX) $(CXXFLAGS) $(CPU_BLAS_FLAGS) $< $(CPU_BLAS_LIBS) -o $@

train_gpt2cu: train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS)
	$(NVCC) $(NVCCFLAGS) $< $(NVCC_LIBS) -o $@

# One training step of d12 for Nsight (scripts/profile.sh); -lineinfo maps kernels to source lines.
profile_gpt2: profile_gpt2.cu train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS)
	$(NVCC) $(NVCCFLAGS) -lineinfo $< $(NVCC_LIBS) -o $@

# ---- tests (test/run_tests.sh runs them; each binary prints PASS/FAIL/SKIP lines)
build/test_%: test/test_%.cpp test/check.h $(HOST_HEADERS)
	@mkdir -p build
	$(CXX) $(CXXFLAGS) $(CPU_BLAS_FLAGS) $< $(CPU_BLAS_LIBS) -o $@

# The CPU tests built on the reference loops alone (as BLAS=0), e.g. build/noblas/test_gradcheck.
build/noblas/test_%: test/test_%.cpp test/check.h $(HOST_HEADERS)
	@mkdir -p build/noblas
	$(CXX) $(CXXFLAGS) $< -o $@

# The machine's SGEMM ceiling (OpenBLAS, all threads) for scripts/bench_cpu.sh.
build/sgemm_peak: dev/sgemm_peak.cpp
	@mkdir -p build
	$(CXX) $(CXXFLAGS) $< -lopenblas -o $@

build/test_gpt2_cuda: test/test_gpt2_cuda.cu test/check.h $(HOST_HEADERS) $(CUDA_HEADERS)
	@mkdir -p build
	$(NVCC) $(NVCCFLAGS) $< $(NVCC_LIBS) -o $@

build/test_flash_model: test/test_flash_model.cu train_gpt2.cu test/check.h $(HOST_HEADERS) $(CUDA_HEADERS)
	@mkdir -p build
	$(NVCC) $(NVCCFLAGS) $< $(NVCC_LIBS) -o $@

build/dev/%: dev/cuda/%.cu dev/cuda/dev_common.cuh test/check.h $(HOST_HEADERS) $(CUDA_HEADERS)
	@mkdir -p build/dev
	$(NVCC) $(NVCCFLAGS) $< $(NVCC_LIBS) -o $@

dev: $(DEV_CUDA_BINS)

# ---- CUDA under CPU emulation (test/cuda_emu): the unchanged CUDA sources compiled with g++
# against stand-in CUDA headers, so CI without a GPU runs them. "Passed under emulation",
# never "verified on a GPU". build/emu/{bf16,fp32}/<program>, e.g. build/emu/fp32/test_gpt2_cuda.
EMU_DEPS = $(wildcard test/cuda_emu/include/*.h test/cuda_emu/include/*/*.h) test/cuda_emu/rewrite_launches.py \
           test/cuda_emu/emu_cxx.sh
EMU_CXX = PYTHON=$(PYTHON) bash test/cuda_emu/emu_cxx.sh
emu_precision = $(if $(filter fp32,$(1)),-DENABLE_FP32,-DENABLE_BF16)
EMU_DEV_BINS = $(patsubst dev/cuda/%.cu,build/emu/bf16/dev/%,$(DEV_CUDA_SOURCES))

.PHONY: emu
emu: build/emu/test_emulator build/emu/fp32/test_gpt2_cuda build/emu/bf16/test_gpt2_cuda build/emu/bf16/train_gpt2cu \
     build/emu/bf16/test_flash_model $(EMU_DEV_BINS)

build/emu/test_emulator: test/cuda_emu/test_emulator.cu test/check.h $(EMU_DEPS)
	$(EMU_CXX) $< $@

build/emu/%/test_gpt2_cuda: test/test_gpt2_cuda.cu train_gpt2.cu test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ $(call emu_precision,$*)

build/emu/%/train_gpt2cu: train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ $(call emu_precision,$*)

build/emu/%/test_flash_model: test/test_flash_model.cu train_gpt2.cu test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ $(call emu_precision,$*)

build/emu/bf16/dev/%: dev/cuda/%.cu dev/cuda/dev_common.cuh test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ -DENABLE_BF16

build/emu/fp32/dev/%: dev/cuda/%.cu dev/cuda/dev_common.cuh test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ -DENABLE_FP32

build/gpt2_debug_state.bin: test/gpt2_oracle.py test/named_tensors.py
	@mkdir -p build
	$(PYTHON) test/gpt2_oracle.py --out $@

test:
	@PYTHON=$(PYTHON) MAKE="$(MAKE)" bash test/run_tests.sh

# Links the offline shards and tokenizer from ../shared/data so the default paths work.
shared-data:
	bash data/use_shared_data.sh

clean:
	rm -rf build train_gpt2cu train_gpt2cpu profile_gpt2
