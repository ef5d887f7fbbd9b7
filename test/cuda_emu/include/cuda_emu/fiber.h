// Cooperative fibers for the CUDA emulator: every thread of a block runs on its own small
// stack inside one OS thread and gives control back only at __syncthreads and warp
// collectives. The x86-64 switch saves just the callee-saved registers (a few ns per switch;
// ucontext's swapcontext makes a signal-mask system call each time, ~100x slower); other
// architectures use ucontext.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace cuda_emu {

#if defined(__x86_64__)
// cuda_emu_switch_context(&save, load): pushes the callee-saved registers, stores the stack
// pointer in *save, loads `load` and pops that fiber's registers; `ret` resumes it. Weak, so
// several translation units may include this header.
asm(R"(
    .text
    .weak cuda_emu_switch_context
    .type cuda_emu_switch_context,@function
cuda_emu_switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuda_emu_switch_context,.-cuda_emu_switch_context
)");
extern "C" void cuda_emu_switch_context(void** save, void* load);

struct FiberContext {
    void* sp = nullptr;
};
// Prepares ctx to start entry() on [stack, stack+size) at its first switch.
inline void fiber_prepare(FiberContext* ctx, char* stack, size_t size, void (*entry)()) {
    uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;         // entry's would-be return address: keeps the ABI's 16-byte alignment
    *--sp = (void*)entry;    // popped by `ret`
    for (int i = 0; i < 6; i++) *--sp = nullptr; // rbp rbx r12 r13 r14 r15
    ctx->sp = sp;
}
inline void fiber_switch(FiberContext* from, FiberContext* to) { cuda_emu_switch_context(&from->sp, to->sp); }
#else
struct FiberContext {
    ucontext_t uc;
};
inline void fiber_prepare(FiberContext* ctx, char* stack, size_t size, void (*entry)()) {
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = nullptr;
    makecontext(&ctx->uc, entry, 0);
}
inline void fiber_switch(FiberContext* from, FiberContext* to) { swapcontext(&from->uc, &to->uc); }
#endif

// Stacks for up to `count` fibers, each with an inaccessible guard page below it so that
// a stack overflow crashes instead of silently corrupting a neighbour. Pages are committed
// only when touched.
class StackPool {
public:
    static constexpr size_t STACK_BYTES = 256 * 1024;
    static constexpr size_t GUARD_BYTES = 4096;
    char* stack(int i) {
        if (i >= count_) grow(i + 1);
        return base_ + (size_t)i * (STACK_BYTES + GUARD_BYTES) + GUARD_BYTES;
    }

private:
    void grow(int count) {
        if (count < 1024) count = 1024;
        const size_t slot = STACK_BYTES + GUARD_BYTES;
        char* base = (char*)mmap(nullptr, slot * count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) {
            fprintf(stderr, "error: CUDA emulator cannot map %d fiber stacks\n", count);
            exit(1);
        }
        for (int i = 0; i < count; i++) mprotect(base + (size_t)i * slot, GUARD_BYTES, PROT_NONE);
        if (base_) munmap(base_, slot * count_);
        base_ = base;
        count_ = count;
    }
    char* base_ = nullptr;
    int count_ = 0;
};

} // namespace cuda_emu
