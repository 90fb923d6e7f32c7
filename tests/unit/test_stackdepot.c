/* test_stackdepot.c -- the stack depot: dedup, dense ids, round trip, concurrent inserts agree. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "collector.h"

static void stack(uintptr_t *pcs, unsigned n, uintptr_t seed)
{
    for (unsigned i = 0; i < n; i++) pcs[i] = 0x400000 + seed * 0x1000 + i * 8;
}

static void same_frames_same_id(void **state)
{
    uintptr_t a[8], b[8];
    stack(a, 8, 1);
    stack(b, 8, 1);
    uint32_t ia = depot_put(a, 8), ib = depot_put(b, 8);
    assert_true(ia != 0);
    assert_int_equal(ia, ib);
    b[7]++;
    uint32_t ic = depot_put(b, 8);
    assert_true(ic != 0 && ic != ia);
    assert_true(depot_put(a, 7) != ia);          /* a prefix is a different stack */
}

static void round_trip(void **state)
{
    uintptr_t a[DEPOT_MAX_DEPTH];
    stack(a, DEPOT_MAX_DEPTH, 7);
    uint32_t id = depot_put(a, DEPOT_MAX_DEPTH);
    const uintptr_t *pcs;
    assert_int_equal(depot_get(id, &pcs), DEPOT_MAX_DEPTH);
    assert_memory_equal(pcs, a, sizeof a);
    assert_int_equal(depot_get(0, &pcs), 0);
    assert_int_equal(depot_get(depot_count() + 1, &pcs), 0);
}

static void ids_are_dense(void **state)
{
    uint32_t before = depot_count();
    uintptr_t a[4];
    for (uintptr_t s = 0; s < 1000; s++) {
        stack(a, 4, 100000 + s);
        assert_int_equal(depot_put(a, 4), before + 1 + s);
    }
    assert_int_equal(depot_count(), before + 1000);
}

/* The table starts small and grows: ids given before a growth are found after it. */
#define MANY 20000
static uint32_t many_ids[MANY];

static void found_across_growth(void **state)
{
    uintptr_t a[5];
    for (uintptr_t s = 0; s < MANY; s++) {
        stack(a, 5, 2000000 + s);
        many_ids[s] = depot_put(a, 5);
        assert_true(many_ids[s] != 0);
    }
    uint32_t count = depot_count();
    for (uintptr_t s = 0; s < MANY; s++) {
        stack(a, 5, 2000000 + s);
        assert_int_equal(depot_put(a, 5), many_ids[s]);
    }
    assert_int_equal(depot_count(), count);
    assert_int_equal(depot_dropped(), 0);
}

#define PER_THREAD 20000
static uint32_t ids[2][PER_THREAD];

static void *inserter(void *arg)
{
    int t = (int)(intptr_t)arg;
    uintptr_t a[6];
    for (int i = 0; i < PER_THREAD; i++) {
        int k = t ? PER_THREAD - 1 - i : i;       /* opposite orders: maximal contention */
        stack(a, 6, 500000 + (uintptr_t)k);
        ids[t][k] = depot_put(a, 6);
    }
    return NULL;
}

static void concurrent_inserts_agree(void **state)
{
    uint32_t before = depot_count();
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, inserter, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int k = 0; k < PER_THREAD; k++) {
        assert_true(ids[0][k] != 0);
        assert_int_equal(ids[0][k], ids[1][k]);
    }
    assert_int_equal(depot_count(), before + PER_THREAD);
}

int main(void)
{
    assert_int_equal(depot_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_frames_same_id),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(ids_are_dense),
        cmocka_unit_test(found_across_growth),
        cmocka_unit_test(concurrent_inserts_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
