/* bench_common.h -- shared helpers for the allocator workloads in tests/bench.
 *
 * The workloads use only the plain malloc family; they are never linked to cowgc.
 * Every block carries a tag derived from its size, checked before free, so a broken
 * allocator shows up as "errors=N" rather than as a fast time.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t rng_seed(uint64_t k)
{
    uint64_t z = k * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 1;
}

/* uniform in [lo, hi] */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static inline double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline uint64_t tag_of(size_t size)
{
    return (uint64_t)size * 0x9E3779B97F4A7C15ULL ^ 0xC0FFEEULL;
}

/* Stamp a fresh block of `size` bytes (size >= 8): a tag in bytes 0..7 and, from 24 bytes
 * up, a check byte at the end. Bytes 8..15 and the middle byte (mid_of) are left to the
 * workload. */
static inline void block_stamp(void *p, size_t size)
{
    uint64_t t = tag_of(size);
    memcpy(p, &t, sizeof t);
    if (size >= 24)
        ((volatile unsigned char *)p)[size - 1] = (unsigned char)(size * 31u + 7u);
}

/* 1 when the block still carries its stamp. */
static inline int block_ok(const void *p, size_t size)
{
    uint64_t t;
    memcpy(&t, p, sizeof t);
    if (t != tag_of(size))
        return 0;
    if (size >= 24 && ((const volatile unsigned char *)p)[size - 1] != (unsigned char)(size * 31u + 7u))
        return 0;
    return 1;
}

/* a byte the workload may use: in 16..size-2 from 24 bytes up, else 0 (the tag: read only) */
static inline size_t mid_of(size_t size)
{
    return size >= 24 ? 16 + (size - 17) / 2 : 0;
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "malloc(%zu) failed\n", n);
        exit(3);
    }
    return p;
}

static inline long arg_long(int argc, char **argv, int i, long dflt)
{
    return argc > i ? strtol(argv[i], NULL, 0) : dflt;
}

/* Every workload ends with one line the runner parses. */
static inline void report(const char *name, double secs, unsigned long long ops,
                          unsigned long long errors, unsigned long long checksum)
{
    printf("RESULT workload=%s secs=%.6f ops=%llu errors=%llu checksum=%llu\n",
           name, secs, ops, errors, checksum);
    fflush(stdout);
}

#endif
