/* test_helpers.c -- how many CPUs the collector counts on: cgroup CPU quotas read as CPUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "scanner.h"

/* A quota is whole CPUs rounded up: 1.5 CPUs let a second marker run half the time. */
static void quota_rounds_up(void **state)
{
    assert_int_equal(cgroup_quota_cpus(100000, 100000), 1);
    assert_int_equal(cgroup_quota_cpus(50000, 100000), 1);
    assert_int_equal(cgroup_quota_cpus(150000, 100000), 2);
    assert_int_equal(cgroup_quota_cpus(200000, 100000), 2);
    assert_int_equal(cgroup_quota_cpus(1000, 1000000), 1);
}

/* v1 writes -1 for "no quota"; nonsense reads as no limit rather than as zero CPUs. */
static void no_quota_is_no_limit(void **state)
{
    assert_int_equal(cgroup_quota_cpus(-1, 100000), 0);
    assert_int_equal(cgroup_quota_cpus(0, 100000), 0);
    assert_int_equal(cgroup_quota_cpus(100000, 0), 0);
    assert_int_equal(cgroup_quota_cpus(1ll << 50, 1), 4096);
}

/* cgroup v2's cpu.max as the kernel writes it, with its newline. */
static void cpu_max_text(void **state)
{
    assert_int_equal(cgroup_cpu_max_cpus("max 100000\n"), 0);
    assert_int_equal(cgroup_cpu_max_cpus("100000 100000\n"), 1);
    assert_int_equal(cgroup_cpu_max_cpus("250000 100000\n"), 3);
    assert_int_equal(cgroup_cpu_max_cpus("50000 1000000\n"), 1);
    assert_int_equal(cgroup_cpu_max_cpus(""), 0);
    assert_int_equal(cgroup_cpu_max_cpus("junk"), 0);
}

/* Whatever the machine's cgroup says, the count is at least one and at most affinity's. */
static void available_is_bounded(void **state)
{
    unsigned n = cpus_available();
    assert_true(n >= 1);
    assert_true(n <= (unsigned)sysconf(_SC_NPROCESSORS_CONF));
    unsigned q = cgroup_cpus();
    if (q) assert_true(n <= q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quota_rounds_up),
        cmocka_unit_test(no_quota_is_no_limit),
        cmocka_unit_test(cpu_max_text),
        cmocka_unit_test(available_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
