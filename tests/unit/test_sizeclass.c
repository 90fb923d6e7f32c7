/* test_sizeclass.c -- size classes fit and are tight; reciprocals divide exactly and tell exact multiples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "collector.h"

static void every_size_gets_smallest_fitting_class(void **state)
{
    for (size_t n = 0; n <= SMALL_MAX; n++) {
        unsigned c = size_class(n);
        assert_true(c < NCLASSES);
        assert_true(class_size[c] >= n);
        if (c > 0) assert_true(class_size[c - 1] < (n ? n : 1));
    }
}

/* The table agrees with the rule it encodes: the smallest class that fits. */
static void small_table_matches_classes(void **state)
{
    for (size_t n = 0; n <= 1024; n++) {
        unsigned c = 0;
        while (class_size[c] < (n ? n : 1)) c++;
        assert_int_equal(size_class(n), c);
    }
}

static void classes_are_increasing_and_granular(void **state)
{
    for (unsigned c = 0; c < NCLASSES; c++) {
        assert_int_equal(class_size[c] % GRANULE, 0);
        if (c) assert_true(class_size[c] > class_size[c - 1]);
    }
    assert_int_equal(class_size[NCLASSES - 1], SMALL_MAX);
}

static void reciprocal_divides_exactly(void **state)
{
    for (unsigned c = 0; c < NCLASSES; c++)
        for (unsigned hdr = 0; hdr <= INLINE_HDR; hdr += INLINE_HDR) {
            uint32_t stride = class_size[c] + hdr, r = reciprocal(stride);
            for (uint32_t off = 0; off < CHUNK_SIZE; off++) {
                uint64_t prod = (uint64_t)off * r;
                if ((uint32_t)(prod >> 32) != off / stride)
                    fail_msg("stride %u off %u", stride, off);
                /* free's fast path: the low half tells a slot's start (alloc.c) */
                if (((uint32_t)prod < r) != (off % stride == 0))
                    fail_msg("stride %u off %u: low half %u, reciprocal %u", stride, off, (uint32_t)prod, r);
            }
        }
}

static void aligned_classes_are_aligned(void **state)
{
    for (size_t align = 32; align <= SMALL_MAX; align *= 2)
        for (size_t n = 1; n <= SMALL_MAX; n += 97) {
            unsigned c = size_class_aligned(n, align);
            if (c == NCLASSES) continue;
            assert_true(class_size[c] >= n);
            assert_int_equal(class_size[c] % align, 0);
        }
    assert_int_equal(size_class_aligned(100, 65536), NCLASSES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_size_gets_smallest_fitting_class),
        cmocka_unit_test(small_table_matches_classes),
        cmocka_unit_test(classes_are_increasing_and_granular),
        cmocka_unit_test(reciprocal_divides_exactly),
        cmocka_unit_test(aligned_classes_are_aligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
