/* fakefp.c -- leaks allocated while rbp holds no frame pointer, for check.py's fakefp case.
 *
 * Code built without frame pointers uses rbp as a data register. Here it points at two stack
 * words shaped like a frame, as a pointer to a local array would be, whose "return address" is
 * a stack address (fake_frame_site) or a heap pointer, a different one each time
 * (heap_frame_site: the array of pointers a program keeps in a local). cowgc's frame-pointer
 * walk must end the stack at the last real frame instead of reporting that word as a frame of
 * "<unknown module>", which would also split heap_frame_site's three leaks into three groups.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

/* malloc(n) called with rbp pointing at a fake frame whose return address is ret. Built with
 * -mno-red-zone (meson.build): the call below is hidden from the compiler, which could
 * otherwise keep fake[] under the stack pointer, where the call would overwrite it. */
static inline __attribute__((always_inline)) void *malloc_under_fake_frame(size_t n, uintptr_t ret)
{
    uintptr_t fake[4] __attribute__((aligned(16)));
    fake[0] = (uintptr_t)&fake[2];          /* the "caller's frame": higher, so a walk goes on */
    fake[1] = ret ? ret : (uintptr_t)&fake[3];   /* its "return address" (0: one in the stack) */
    fake[2] = 0;
    fake[3] = 0;
    void *r;
    __asm__ volatile("push %%rbp\n\t"
                     "push %%rbx\n\t"
                     "mov %%rsp, %%rbx\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %[f], %%rbp\n\t"
                     "call malloc@PLT\n\t"
                     "mov %%rbx, %%rsp\n\t"
                     "pop %%rbx\n\t"
                     "pop %%rbp"
                     : "=a"(r), "+D"(n)
                     : [f] "r"(fake)
                     : "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc",
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    return r;
}

static NOINLINE void *fake_frame_site(size_t n) { return malloc_under_fake_frame(n, 0); }

static NOINLINE void *heap_frame_site(size_t n, const void *ret)
{
    return malloc_under_fake_frame(n, (uintptr_t)ret);
}

static void *volatile held[3];              /* reachable: the "return addresses" are no leaks */

static NOINLINE void leak(void)
{
    void *p = fake_frame_site(40);
    memset(p, 1, 40);
    sink = p;
    for (int i = 0; i < 3; i++) {
        held[i] = malloc(64);
        p = heap_frame_site(56, (const char *)held[i] + 16);
        memset(p, 2, 56);
        sink = p;
    }
    sink = NULL;
}

/* Overwrite the dead part of the stack so stale copies do not keep the leak alive. */
static NOINLINE void scrub(void)
{
    volatile char buf[1 << 14];
    memset((char *)buf, 0, sizeof buf);
}

int main(void)
{
    leak();
    scrub();
    printf("fakefp: done\n");
    return 0;
}
