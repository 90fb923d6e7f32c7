/* compiler.c -- a compiler's allocation pattern (as in building Lua with gcc): many small,
 * short-lived blocks. For each "source file": a lexer makes token strings, an intern table
 * keeps one copy of each name (grown with realloc), a parser builds a tree of 24-80-byte nodes
 * with statement lists grown by realloc, code generation appends to a growing buffer; each
 * function's tree and tokens are freed when it is done, the file's tables at the end.
 *
 *   compiler FILES [FUNCS_PER_FILE [STMTS_PER_FUNC]]
 */
#include "bench_common.h"

struct node {
    int kind;
    int nkids, cap;
    struct node **kids;     /* realloc-grown */
    char *name;             /* interned or NULL */
    uint64_t value;
};

struct intern {
    char **slot;
    size_t n, cap;          /* open addressing, power of two */
};

static unsigned long long errs, sum;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static char *intern(struct intern *t, const char *s)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        char **ns = calloc(nc, sizeof *ns);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i]) {
                size_t j = hash_str(t->slot[i]) & (nc - 1);
                while (ns[j]) j = (j + 1) & (nc - 1);
                ns[j] = t->slot[i];
            }
        free(t->slot);
        t->slot = ns;
        t->cap = nc;
    }
    size_t j = hash_str(s) & (t->cap - 1);
    while (t->slot[j]) {
        if (strcmp(t->slot[j], s) == 0) return t->slot[j];
        j = (j + 1) & (t->cap - 1);
    }
    size_t len = strlen(s);
    t->slot[j] = xmalloc(len + 1);
    memcpy(t->slot[j], s, len + 1);
    t->n++;
    return t->slot[j];
}

static struct node *mk(int kind, size_t extra)
{
    /* nodes carry a kind-dependent payload, as AST nodes of different kinds do */
    struct node *n = xmalloc(sizeof *n + extra);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    return n;
}

static void add_kid(struct node *p, struct node *k)
{
    if (p->nkids == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 2;
        struct node **nk = realloc(p->kids, (size_t)p->cap * sizeof *nk);
        if (!nk) exit(3);
        p->kids = nk;
    }
    p->kids[p->nkids++] = k;
}

static void free_tree(struct node *n)
{
    for (int i = 0; i < n->nkids; i++) free_tree(n->kids[i]);
    sum += (uint64_t)n->kind + n->value;
    free(n->kids);
    free(n);
}

/* a token: a fresh string of 1..20 letters, from a small vocabulary most of the time */
static char *token(uint64_t *s)
{
    char buf[32];
    size_t len;
    if ((rng_next(s) & 3) != 0) {
        unsigned v = (unsigned)(rng_next(s) % 300);
        len = (size_t)snprintf(buf, sizeof buf, "id%u", v);
    } else {
        len = rng_range(s, 1, 20);
        for (size_t i = 0; i < len; i++) buf[i] = (char)('a' + rng_next(s) % 26);
        buf[len] = 0;
    }
    char *t = xmalloc(len + 1);
    memcpy(t, buf, len + 1);
    return t;
}

/* an expression tree of depth up to d, consuming tokens */
static struct node *expr(uint64_t *s, struct intern *names, int d, char **toks, long *nt)
{
    if (d == 0 || (rng_next(s) & 3) == 0) {
        struct node *leaf = mk(1, rng_range(s, 0, 24));
        char *tk = token(s);
        toks[(*nt)++] = tk;
        leaf->name = intern(names, tk);
        leaf->value = strlen(tk);
        return leaf;
    }
    struct node *op = mk(2, rng_range(s, 0, 16));
    int nk = (int)rng_range(s, 1, 3);
    for (int i = 0; i < nk; i++) add_kid(op, expr(s, names, d - 1, toks, nt));
    return op;
}

int main(int argc, char **argv)
{
    long files = arg_long(argc, argv, 1, 200);
    long funcs = arg_long(argc, argv, 2, 40);
    long stmts = arg_long(argc, argv, 3, 60);
    if (files < 1 || funcs < 1 || stmts < 1) {
        fprintf(stderr, "usage: compiler FILES [FUNCS [STMTS]]\n");
        return 2;
    }
    uint64_t s = rng_seed(42);
    size_t maxtoks = (size_t)stmts * 64;
    char **toks = xmalloc(maxtoks * sizeof *toks);
    unsigned long long ops = 0;
    double t0 = now_sec();
    for (long f = 0; f < files; f++) {
        struct intern names = { 0 };
        unsigned char *code = NULL;
        size_t clen = 0, ccap = 0;
        for (long fn = 0; fn < funcs; fn++) {
            long nt = 0;
            struct node *body = mk(3, 0);
            for (long st = 0; st < stmts; st++) {
                if ((size_t)nt + 40 > maxtoks) break;
                add_kid(body, expr(&s, &names, 4, toks, &nt));
            }
            /* code generation: a byte per node, in a buffer grown by realloc */
            for (int i = 0; i < body->nkids; i++) {
                if (clen + 64 > ccap) {
                    ccap = ccap ? ccap * 2 : 256;
                    unsigned char *nc = realloc(code, ccap);
                    if (!nc) exit(3);
                    code = nc;
                }
                code[clen++] = (unsigned char)body->kids[i]->kind;
            }
            /* the tokens die with the function; the interned names live on */
            for (long i = 0; i < nt; i++) {
                if (!names.slot) errs++;
                free(toks[i]);
            }
            ops += (unsigned long long)nt;
            free_tree(body);
        }
        for (size_t i = 0; i < clen; i++) sum += code[i];
        free(code);
        for (size_t i = 0; i < names.cap; i++) free(names.slot[i]);
        free(names.slot);
    }
    free(toks);
    report("compiler", now_sec() - t0, ops, errs, sum);
    return errs ? 1 : 0;
}
