/* gc_dso.c -- a library dlopen'd by test_gc: its static is the only reference to a block. */
static void *kept;
__attribute__((visibility("default"))) void gc_dso_set(void *p) { kept = p; }
__attribute__((visibility("default"))) void *gc_dso_get(void) { return kept; }
