# GPT-2 optimizer-comparison trainer.
#   make run          set-up, then the main job: train_gpt2cu with a GPU, else train_gpt2cpu
#   make              train_gpt2cu (CUDA, bf16) and train_gpt2cpu (fp32 CPU reference)
#   make test         builds and runs every test; ends with "N passed, N failed, N skipped"
#   make dev          builds every dev/cuda kernel check into build/dev/
#   make emu          builds the CUDA programs for the CPU emulator into build/emu/ (test/cuda_emu)
#   make profile_gpt2 one d12 training step for Nsight (scripts/profile.sh)
#   make gpu-kit      binaries, oracle, scripts and data for one GPU call (scripts/gpu_check.sh)
#   make clean
# Knobs: GPU_ARCH=90 (compute capability, default Hopper), PRECISION=BF16|FP32, DP=0 (train_gpt2cu
#        without NCCL and MPI, which are used when found),
#        NATIVE=1 adds -O3 -march=native to the CPU build (off: results independent of the host),
#        BLAS=1 (default) runs the CPU trainer's matrix products through OpenBLAS's cblas_sgemm
#        (-DUSE_BLAS -lopenblas); BLAS=0 builds it on the reference loops of cpu/ alone.
#        MPI=auto (default) builds train_gpt2cpu with Open MPI when mpicxx (or pkg-config ompi)
#        is found (-DUSE_MPI: mpirun -np N ./train_gpt2cpu), else single-process only; MPI=0 never.

GPU_ARCH ?= 90
PRECISION ?= BF16
NATIVE ?= 0
BLAS ?= 1
PYTHON ?= /usr/bin/python3

NVCC ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CXX ?= g++

# -fno-trapping-math -fno-math-errno: no FP-exception or errno semantics, values unchanged; lets loops
# with comparisons (cpu/vector_exp.h) and sqrtf (optim/adamw.h) vectorize
CXXFLAGS = -std=c++17 -O2 -fno-trapping-math -fno-math-errno -fopenmp -pthread -Wall
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

# MPI for the CPU trainer's data parallelism (common/comm_mpi.h): the compile and link flags
# of mpicxx, else of pkg-config's ompi; none found, train_gpt2cpu is single-process only.
MPI ?= auto
ifneq ($(MPI),0)
  MPICXX ?= $(shell command -v mpicxx 2>/dev/null)
  ifneq ($(MPICXX),)
    MPI_COMPILE := $(shell $(MPICXX) --showme:compile 2>/dev/null)
    MPI_LINK := $(shell $(MPICXX) --showme:link 2>/dev/null)
  endif
  ifeq ($(strip $(MPI_LINK)),)
    MPI_COMPILE := $(shell pkg-config --cflags ompi 2>/dev/null)
    MPI_LINK := $(shell pkg-config --libs ompi 2>/dev/null)
  endif
endif
ifneq ($(strip $(MPI_LINK)),)
  CPU_MPI_FLAGS = -DUSE_MPI $(MPI_COMPILE)
  CPU_MPI_LIBS = $(MPI_LINK)
  CPU_MPI_STATE = with MPI (mpirun -np N ./train_gpt2cpu)
else
  CPU_MPI_STATE = without MPI: single process only (install libopenmpi-dev for mpirun)
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

# Data parallelism in train_gpt2cu: NCCL for the collectives, MPI to launch with mpirun and to
# hand NCCL its unique id (-pi fs|tcp work without MPI); each is used when found, and the build
# says which. Without NCCL train_gpt2cu runs one process only.
# DP=0: neither (a binary that needs neither libnccl nor libmpi where it runs).
DP ?= 1
# MPI's flags for nvcc (MPI as found above): the C API only (OMPI_SKIP_MPICXX), -I, -L and -l,
# without Open MPI's C++ bindings library.
ifneq ($(strip $(MPI_LINK)),)
  MPI_CPPFLAGS := -DUSE_MPI -DOMPI_SKIP_MPICXX=1 $(filter -I%,$(MPI_COMPILE))
  MPI_LDLIBS := $(filter-out -lmpi_cxx,$(filter -L% -l%,$(MPI_LINK)))
endif
ifneq ($(DP),0)
  NCCL_HEADER := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
endif
ifneq ($(NCCL_HEADER),)
  GPU_DP_FLAGS := -DUSE_NCCL $(MPI_CPPFLAGS)
  GPU_DP_LIBS := -lnccl $(MPI_LDLIBS)
  GPU_DP_SUMMARY := NCCL$(if $(MPI_CPPFLAGS), + MPI (mpirun or -pi fs|tcp), only (-pi fs|tcp; no MPI found))
else
  GPU_DP_SUMMARY := none ($(if $(filter 0,$(DP)),DP=0,no nccl.h): one process only)
endif
# The emulated trainer gets the NCCL stand-in over MPI (test/cuda_emu/include/nccl.h) when MPI is here.
ifneq ($(MPI_CPPFLAGS),)
  EMU_DP_FLAGS := -DUSE_NCCL $(MPI_CPPFLAGS)
  EMU_DP_LIBS := $(MPI_LDLIBS)
endif

HOST_HEADERS = $(wildcard common/*.h cpu/*.h optim/*.h)
CUDA_HEADERS = $(wildcard kernels/*.cuh optim/*.cuh common/*.cuh)
DEV_CUDA_SOURCES = $(wildcard dev/cuda/*.cu)
DEV_CUDA_BINS = $(patsubst dev/cuda/%.cu,build/dev/%,$(DEV_CUDA_SOURCES))

.PHONY: all test dev clean shared-data run FORCE
all: train_gpt2cu train_gpt2cpu

# The main job on a fresh clone: installs what the build needs, then trains on the committed
# Tiny Shakespeare shards into RUN_DIR (replacing an earlier `make run`). With a GPU: GPT-2
# 124M (d12), 100 steps of 16x1024 tokens; without: the CPU trainer's defaults (a tiny d2
# model, 150 steps, a sample at the end; about 2 minutes on 2 cores, see README).
RUN_DIR ?= runs/make_run
run:
	@bash scripts/setup.sh --build
	@if nvidia-smi -L >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory train_gpt2cu && \
		./train_gpt2cu -e d12 -b 16 -t 1024 -d 16384 -x 100 -v 25 -s 100 -o $(RUN_DIR) --overwrite; \
	else \
		echo "no CUDA GPU (nvidia-smi): training on the CPU with train_gpt2cpu's defaults"; \
		$(MAKE) --no-print-directory train_gpt2cpu && ./train_gpt2cpu -o $(RUN_DIR) --overwrite; \
	fi

# The source revision the trainers record in metrics.jsonl (common/run_log.h), taken at
# build time; the header is rewritten only when it changes, so a new commit (or a tree
# that turns dirty) rebuilds the trainers and nothing else does.
GIT_REVISION := $(shell git rev-parse HEAD 2>/dev/null)
GIT_DIRTY := $(if $(GIT_REVISION),$(shell git diff --quiet HEAD -- 2>/dev/null && echo 0 || echo 1),-1)
build/git_revision.h: FORCE
	@mkdir -p build
	@printf '#define GPT2_GIT_REVISION "%s"\n#define GPT2_GIT_DIRTY %s\n' "$(or $(GIT_REVISION),unknown)" "$(GIT_DIRTY)" >$@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

train_gpt2cpu: train_gpt2.cpp $(HOST_HEADERS) build/git_revision.h
	$(CXX) $(CXXFLAGS) $(CPU_BLAS_FLAGS) $(CPU_MPI_FLAGS) $< $(CPU_BLAS_LIBS) $(CPU_MPI_LIBS) -o $@
	@echo "train_gpt2cpu: $(CPU_MPI_STATE)"

train_gpt2cu: train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS) build/git_revision.h
	$(NVCC) $(NVCCFLAGS) $(GPU_DP_FLAGS) $< $(NVCC_LIBS) $(GPU_DP_LIBS) -o $@
	@echo "train_gpt2cu: data parallel through $(GPU_DP_SUMMARY)"

# The GPU kit's two trainers (scripts/make_gpu_kit.sh): one that needs neither libnccl nor libmpi
# where it runs (the device's libraries are unknown), and one with NCCL only (-pi fs, no MPI), run
# by gpu_check.sh's nccl_pn1 step when it finds a libnccl.so.2 there (PyTorch's wheel brings one).
build/kit/train_gpt2cu: train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS) build/git_revision.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $< $(NVCC_LIBS) -o $@
build/kit/train_gpt2cu_nccl: train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS) build/git_revision.h
	@mkdir -p $(dir $@)
	$(if $(NCCL_HEADER),$(NVCC) $(NVCCFLAGS) -DUSE_NCCL $< $(NVCC_LIBS) -lnccl -o $@,@echo "no nccl.h: the kit has no NCCL trainer" && rm -f $@)

# One training step of d12 for Nsight (scripts/profile.sh); -lineinfo maps kernels to source lines.
profile_gpt2: profile_gpt2.cu train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS) build/git_revision.h
	$(NVCC) $(NVCCFLAGS) -lineinfo $< $(NVCC_LIBS) -o $@

# ---- tests (test/run_tests.sh runs them; each binary prints PASS/FAIL/SKIP lines)
build/test_%: test/test_%.cpp test/check.h $(HOST_HEADERS)
	@mkdir -p build
	$(CXX) $(CXXFLAGS) $(CPU_BLAS_FLAGS) $< $(CPU_BLAS_LIBS) -o $@

# The CPU tests built on the reference loops alone (as BLAS=0), e.g. build/noblas/test_gradcheck.
build/noblas/test_%: test/test_%.cpp test/check.h $(HOST_HEADERS)
	@mkdir -p build/noblas
	$(CXX) $(CXXFLAGS) $< -o $@

# phi's estimate against tokens per gradient and K at fixed weights, for scripts/phi_scaling.sh.
build/phi_scaling: dev/phi_scaling.cpp $(HOST_HEADERS)
	@mkdir -p build
	$(CXX) $(CXXFLAGS) $(CPU_BLAS_FLAGS) $< $(CPU_BLAS_LIBS) -o $@

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

# The vote's collectives on NCCL (dev/cuda/vote_comm.cu under mpirun -np N; build/dev/vote_comm is
# its one-process build for the GPU kit), and its emulated build with the NCCL stand-in over MPI.
build/nccl/vote_comm: dev/cuda/vote_comm.cu dev/cuda/dev_common.cuh test/check.h $(HOST_HEADERS) $(CUDA_HEADERS)
	@mkdir -p $(dir $@)
	$(if $(NCCL_HEADER),$(NVCC) $(NVCCFLAGS) $(GPU_DP_FLAGS) $< $(NVCC_LIBS) $(GPU_DP_LIBS) -o $@,@echo "no nccl.h: build/nccl/vote_comm needs NCCL" && false)

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

build/emu/%/train_gpt2cu: train_gpt2.cu $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS) build/git_revision.h
	EMU_LDLIBS="$(EMU_DP_LIBS)" $(EMU_CXX) $< $@ $(call emu_precision,$*) $(EMU_DP_FLAGS)

build/emu/%/test_flash_model: test/test_flash_model.cu train_gpt2.cu test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ $(call emu_precision,$*)

build/emu/bf16/dev/%: dev/cuda/%.cu dev/cuda/dev_common.cuh test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ -DENABLE_BF16

build/emu/nccl/vote_comm: dev/cuda/vote_comm.cu dev/cuda/dev_common.cuh test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	EMU_LDLIBS="$(EMU_DP_LIBS)" $(EMU_CXX) $< $@ -DENABLE_BF16 $(EMU_DP_FLAGS)

build/emu/fp32/dev/%: dev/cuda/%.cu dev/cuda/dev_common.cuh test/check.h $(HOST_HEADERS) $(CUDA_HEADERS) $(EMU_DEPS)
	$(EMU_CXX) $< $@ -DENABLE_FP32

# The SignSGD paper's synthetic experiments through optim/*.h's per-element rules (dev/toy/,
# docs/toy_experiments.md): `make toy` builds, runs them (CSV files and tables in build/toy/)
# and draws build/toy/toy_experiments.png. TOY_FLAGS: e.g. --scale quick; TOY_OUT: where the
# CSV files and the figure go.
TOY_OUT ?= build/toy
TOY_HEADERS = $(wildcard dev/toy/*.h)
build/toy/toy_experiments: dev/toy/toy_experiments.cpp $(TOY_HEADERS) $(HOST_HEADERS)
	@mkdir -p build/toy
	$(CXX) $(CXXFLAGS) $< -o $@

build/test_toy: test/test_toy.cpp test/check.h $(TOY_HEADERS) $(HOST_HEADERS)
	@mkdir -p build
	$(CXX) $(CXXFLAGS) $< -o $@

.PHONY: toy
toy: build/toy/toy_experiments
	@start=$$(date +%s%N); build/toy/toy_experiments --out $(TOY_OUT) $(TOY_FLAGS) && \
	$(PYTHON) dev/toy/plot_toy.py $(TOY_OUT) $(TOY_OUT)/toy_experiments.png && \
	echo "make toy: $$(( ($$(date +%s%N) - start) / 1000000 )) ms (run and figure)"

build/gpt2_debug_state.bin: test/gpt2_oracle.py test/named_tensors.py
	@mkdir -p build
	$(PYTHON) test/gpt2_oracle.py --out $@

test:
	@PYTHON=$(PYTHON) MAKE="$(MAKE)" bash test/run_tests.sh

# What a GPU session carries (scripts/gpu_check.sh's header): the sm_90 binaries, the oracle,
# the scripts and the small data in one ignored folder under 64 MiB (scripts/make_gpu_kit.sh).
GPU_KIT ?= build/gpu_kit
.PHONY: gpu-kit
# KIT_TRAINER / KIT_NCCL_TRAINER: which binaries become the kit's train_gpt2cu and train_gpt2cu_nccl
# (test/test_gpu_check.sh gives the already built train_gpt2cu and no NCCL twin: two nvcc builds less).
KIT_TRAINER ?= build/kit/train_gpt2cu
KIT_NCCL_TRAINER ?= build/kit/train_gpt2cu_nccl
gpu-kit: $(KIT_TRAINER) $(KIT_NCCL_TRAINER) build/test_gpt2_cuda build/test_flash_model profile_gpt2 dev
	KIT_TRAINER=$(KIT_TRAINER) KIT_NCCL_TRAINER=$(KIT_NCCL_TRAINER) NVCC=$(NVCC) GPU_ARCH=$(GPU_ARCH) PRECISION=$(PRECISION) bash scripts/make_gpu_kit.sh $(GPU_KIT)

# Links the offline shards and tokenizer from ../shared/data so the default paths work.
shared-data:
	bash data/use_shared_data.sh

clean:
	rm -rf build train_gpt2cu train_gpt2cpu profile_gpt2
