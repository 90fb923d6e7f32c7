/* test_markstack.c -- the mark stack is LIFO, bounded, reports overflow once, and resets clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scanner.h"

#define CAPACITY ((size_t)4 << 20)   /* markstack.c's MARKSTACK_ENTRIES */

static int setup(void **state)
{
    markstack_init();
    markstack_reset();
    return 0;
}

static void push_pop_is_lifo(void **state)
{
    struct mark_item it;
    assert_false(markstack_pop(&it));
    for (uintptr_t i = 1; i <= 1000; i++)
        assert_true(markstack_push(i * 16, i * 16 + 8));
    for (uintptr_t i = 1000; i >= 1; i--) {
        assert_true(markstack_pop(&it));
        assert_int_equal(it.lo, i * 16);
        assert_int_equal(it.hi, i * 16 + 8);
    }
    assert_false(markstack_pop(&it));
    assert_false(markstack_overflowed());
}

static void init_is_idempotent_and_range_is_the_mapping(void **state)
{
    uintptr_t lo = markstack_lo(), hi = markstack_hi();
    markstack_init();
    assert_int_equal(markstack_lo(), lo);
    assert_int_equal(markstack_hi(), hi);
    assert_true(lo != 0);
    assert_int_equal(hi - lo, CAPACITY * sizeof(struct mark_item));
}

static void overflow_is_reported_once_and_keeps_contents(void **state)
{
    for (size_t i = 0; i < CAPACITY; i++)
        assert_true(markstack_push(i, i + 1));
    assert_false(markstack_push(1, 2));
    assert_false(markstack_push(3, 4));
    assert_true(markstack_overflowed());
    assert_false(markstack_overflowed());       /* reading clears it */

    struct mark_item it;
    assert_true(markstack_pop(&it));
    assert_int_equal(it.lo, CAPACITY - 1);      /* the dropped pushes did not land */
    assert_true(markstack_push(7, 8));          /* room again after a pop */
    assert_false(markstack_overflowed());
}

static void reset_empties_and_clears_overflow(void **state)
{
    for (size_t i = 0; i < 10000; i++)
        markstack_push(i, i + 1);
    markstack_reset();
    struct mark_item it;
    assert_false(markstack_pop(&it));
    assert_false(markstack_overflowed());
    assert_true(markstack_push(5, 6));
    assert_true(markstack_pop(&it));
    assert_int_equal(it.lo, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(push_pop_is_lifo, setup),
        cmocka_unit_test_setup(init_is_idempotent_and_range_is_the_mapping, setup),
        cmocka_unit_test_setup(overflow_is_reported_once_and_keeps_contents, setup),
        cmocka_unit_test_setup(reset_empties_and_clears_overflow, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
