/* uring_data.c -- a block whose only pointer is an io_uring request's user_data survives collections while the request is in flight.
 *
 * usage: uring_data   (exit 0: intact; 1: reclaimed; 77: io_uring unavailable here)
 * A read from a pipe is submitted with user_data = a malloc'd block (its buffer inside the
 * block), every other pointer to it is dropped, and collections run (cowgc_collect, found with
 * dlsym) with garbage of the block's size in between, so that a reclaimed slot is handed out
 * again and overwritten. Then a byte is written to the pipe and the completion's user_data is
 * checked. The kernel holds that pointer where no scan sees it; collect mode must not sweep
 * while a ring is mapped. Without cowgc it passes trivially.
 */
#include <dlfcn.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIZE 256

static __attribute__((noinline)) int submit_read(struct io_uring *ring, int fd)
{
    unsigned char *req = malloc(SIZE);
    if (!req) return 2;
    memset(req, 0x5A, SIZE);
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) return 2;
    io_uring_prep_read(sqe, fd, req + SIZE - 1, 1, 0);
    io_uring_sqe_set_data(sqe, req);
    req = NULL;
    return io_uring_submit(ring) == 1 ? 0 : 2;
}

static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char buf[8192];
    memset((char *)buf, 0, sizeof buf);
}

int main(void)
{
    struct io_uring ring;
    if (io_uring_queue_init(8, &ring, 0) < 0) {
        printf("uring_data: io_uring is not available here: skipped\n");
        return 77;
    }
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cowgc_collect");
    int p[2];
    if (pipe(p) || submit_read(&ring, p[0])) return 2;
    scrub_stack();
    for (int round = 0; round < 3; round++) {
        if (collect) collect();
        for (int i = 0; i < 2000; i++) {
            volatile char *g = malloc(SIZE);
            memset((char *)g, 0xEE, SIZE);
        }
    }
    if (collect) collect();
    if (write(p[1], "y", 1) != 1) return 2;
    struct io_uring_cqe *cqe;
    if (io_uring_wait_cqe(&ring, &cqe) || cqe->res != 1) return 2;
    const unsigned char *req = io_uring_cqe_get_data(cqe);
    for (int i = 0; i < SIZE - 1; i++)
        if (req[i] != 0x5A) {
            fprintf(stderr, "uring_data: the block held by an io_uring request in flight was reclaimed "
                            "(byte %d is 0x%02x)\n", i, req[i]);
            return 1;
        }
    if (req[SIZE - 1] != 'y') return 1;
    printf("uring_data: ok\n");
    return 0;
}
