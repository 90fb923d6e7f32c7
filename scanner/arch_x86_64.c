/* arch_x86_64.c -- the only architecture-specific code: where x86-64 keeps registers a pointer may hide in, and raw threads.
 *
 * Invariants:
 *  - Never allocates, never takes a lock: the register entry points run inside the stop handler.
 *  - A register record holds the 16 general registers followed by both 64-bit halves of
 *    xmm0-15, i.e. 48 words: exactly struct stopped_thread.regs. rip, flags and the segment
 *    and fault fields of the ucontext are left out: they never hold heap pointers.
 */
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include "scanner.h"

/* gregs[REG_R8 .. REG_RSP] are the 16 general registers, contiguous in glibc's ordering. */
#define ARCH_NGPR 16
#define ARCH_NXMM 16


HIDDEN unsigned arch_regs_from_ucontext(void *ucv, uintptr_t *regs, unsigned max, uintptr_t *sp)
{
    const ucontext_t *uc = ucv;
    unsigned n = 0;

    for (unsigned i = 0; i < ARCH_NGPR && n < max; i++)
        regs[n++] = (uintptr_t)uc->uc_mcontext.gregs[REG_R8 + i];
    /* The compiler keeps pointers in xmm registers (vectorised copies, spills of
     * callee-saved values under pressure), so both halves of each count as roots. */
    const struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
    if (fp) {
        for (unsigned i = 0; i < ARCH_NXMM && n + 2 <= max; i++) {
            uint64_t half[2];
            memcpy(half, fp->_xmm[i].element, sizeof half);
            regs[n++] = half[0];
            regs[n++] = half[1];
        }
    }
    *sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    return n;
}

/* noinline: the returned stack pointer must be below every frame of our callers, so the
 * caller's stack scan covers the frames that saved the program's callee-saved registers. */
CHILD_PATH __attribute__((noinline)) HIDDEN unsigned arch_spill_regs(uintptr_t *regs, unsigned max, uintptr_t *sp)
{
    uintptr_t r[6], s;

    /* Only callee-saved registers can hold a caller's live value across this call. */
    __asm__ volatile("movq %%rbx, 0(%1)\n\t"
                     "movq %%rbp, 8(%1)\n\t"
                     "movq %%r12, 16(%1)\n\t"
                     "movq %%r13, 24(%1)\n\t"
                     "movq %%r14, 32(%1)\n\t"
                     "movq %%r15, 40(%1)\n\t"
                     "movq %%rsp, %0"
                     : "=r"(s)
                     : "r"(r)
                     : "memory");
    unsigned n = 0;
    for (unsigned i = 0; i < 6 && n < max; i++)
        regs[n++] = r[i];
    *sp = s;
    return n;
}

/* The thread pointer (fs base): glibc keeps the TCB's self pointer at %fs:0, which avoids
 * the arch_prctl syscall. Static TLS lies just below it (TLS variant II). */
CHILD_PATH HIDDEN uintptr_t arch_thread_pointer(void)
{
    uintptr_t tp;
    __asm__("movq %%fs:0, %0" : "=r"(tp));
    return tp;
}

/* clone(2) without glibc: the helper is no pthread (glibc's thread list, its TLS and its
 * stack cache stay untouched, and nothing in it allocates). Flags: a thread of this process
 * sharing everything, whose exit clears *ctid and wakes a futex on it. fn and arg travel in
 * callee-saved registers, which the child starts with; it never returns into C. */
HIDDEN pid_t arch_thread_start(void (*fn)(void *), void *arg, void *stack_top, int *ctid)
{
    const unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                                CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
    register long r10 __asm__("r10") = (long)ctid;
    register long r8 __asm__("r8") = 0;
    register void (*r12)(void *) __asm__("r12") = fn;
    register void *r13 __asm__("r13") = arg;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "testq %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xorl %%ebp, %%ebp\n\t"
                     "movq %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "movl $60, %%eax\n\t"     /* SYS_exit: this thread only */
                     "xorl %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "=a"(ret)
                     : "0"((long)SYS_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10), "r"(r8),
                       "r"(r12), "r"(r13)
                     : "rcx", "r11", "memory");
    return (pid_t)ret;
}
