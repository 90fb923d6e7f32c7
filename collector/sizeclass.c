/* sizeclass.c -- the size classes and the reciprocals that map an offset to a slot without division.
 *
 * Invariants:
 *  - class_size[size_class(n)] >= n for every 0 <= n <= SMALL_MAX, and it is the smallest class
 *    that fits (tests/unit/test_sizeclass.c checks every n).
 *  - For every stride s <= CHUNK_SIZE and offset o < CHUNK_SIZE: (o * reciprocal(s)) >> 32 == o / s.
 *    (recip = floor(2^32/s) + 1 overestimates 1/s by less than 2^-32, and o*err < 2^16 <= 2^32/s.)
 *  - And the low 32 bits of o * reciprocal(s) are below reciprocal(s) exactly when s divides o
 *    (o = k*s + j: the low half is k*(s*recip - 2^32) + j*recip, and k*(s*recip - 2^32) <= o <
 *    2^16 < recip), which free's fast path uses to reject pointers into a block.
 */
#include "collector.h"

CHILD_RODATA const uint32_t class_size[NCLASSES] = {
    16, 32, 48, 64, 80, 96, 112, 128,
    160, 192, 224, 256, 320, 384, 448, 512,
    640, 768, 896, 1024, 1280, 1536, 1792, 2048,
    2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
    10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
};

/* size_class() for sizes up to 1024, indexed by (size + 15) / 16: one load instead of a bit scan
 * on the malloc fast path. Checked against the formula for every size by test_sizeclass. */
CHILD_RODATA const uint8_t class_of_small[65] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11,
    11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15,
    15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
    17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19,
    19,
};

uint32_t reciprocal(uint32_t stride)
{
    return (uint32_t)((((uint64_t)1 << 32) / stride) + 1);
}

/* The smallest class >= size whose slots all start on an `align` boundary: slots sit at
 * span + i * class_size with spans CHUNK_SIZE aligned, so class_size % align == 0 suffices.
 * Only meaningful in out-of-line mode (an inline header shifts every slot by 16). */
unsigned size_class_aligned(size_t size, size_t align)
{
    if (size > SMALL_MAX || align > SMALL_MAX) return NCLASSES;
    for (unsigned c = size_class(size ? size : 1); c < NCLASSES; c++)
        if (class_size[c] % align == 0) return c;
    return NCLASSES;
}
