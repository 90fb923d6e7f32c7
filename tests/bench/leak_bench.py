#!/usr/bin/env python3
"""leak_bench.py -- cost of leak detection: cowgc detect mode against LeakSanitizer (and no
detector), interleaved in one run.

  leak_bench.py --bindir BUILD/tests/bench --cowgc BUILD/preload/libcowgc.so [-n 3]
                [--iterations 1000] [--lsan-iterations 100] [--output FILE] [-q]

Three parts, best of N each (runs interleaved, configuration order rotated per round):
 1. allocation workloads (churn, larson, prodcons): wall and CPU (user+sys) seconds under
    glibc (no detector), mimalloc (no detector, when installed: what a segregated-fit allocator
    alone costs, beside COWGC_MODE=off), COWGC_MODE=off, detect (fp, depth 16), detect depth 0,
    LeakSanitizer;
 2. the fork-heavy shell script fork_loop.sh (command substitutions in a loop, builtins only and
    with one exec'd command per iteration), wall and CPU per 1000 iterations, with the ratio of
    the median walls beside the best; LeakSanitizer
    checks every exiting child and runs fewer iterations (--lsan-iterations), scaled;
 3. report time for manyleaks (2048 leak groups, 1024 distinct sites): seconds from the end of
    main to the end of the process, i.e. the exit-time check and report, per symbolizer.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

LSAN = '/usr/lib/x86_64-linux-gnu/liblsan.so.0'
WORKLOADS = {
    'churn-1t': ['churn', '1', '3000000', '20000', '8', '512'],
    'larson-2t': ['larson', '2', '600000', '20000', '16', '1024', '2'],
    'prodcons': ['prodcons', '1', '1000000', '16', '1024'],
}


def configs(lib, lsan=True):
    c = [('glibc', {})]
    mimalloc = dict(bl.ALLOCATORS)['mimalloc']
    if os.path.exists(mimalloc):
        c.append(('mimalloc', {'LD_PRELOAD': mimalloc}))
    c += [('cowgc off', {'LD_PRELOAD': lib, 'COWGC_MODE': 'off'}),
          ('cowgc detect', {'LD_PRELOAD': lib, 'COWGC_MODE': 'detect'}),
          ('detect depth 0', {'LD_PRELOAD': lib, 'COWGC_MODE': 'detect', 'COWGC_STACK_DEPTH': '0'})]
    if lsan and os.path.exists(LSAN):
        c.append(('LeakSanitizer', {'LD_PRELOAD': LSAN, 'LSAN_OPTIONS': 'exitcode=0'}))
    return c


def run(argv, settings, timeout=1800):
    """(wall s, CPU s of the process tree, stdout, ok)."""
    env = bl.clean_env(settings)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    end = time.monotonic()
    ok = os.waitstatus_to_exitcode(status) == 0
    return end - t0, ru.ru_utime + ru.ru_stime, out.decode(errors='replace'), ok, end


def table(title, rows, cols, note, out):
    out.append('\n### ' + title + '\n')
    out.append('| | ' + ' | '.join(cols) + ' |')
    out.append('|---|' + '---|' * len(cols))
    for name, cells in rows:
        out.append('| %s | %s |' % (name, ' | '.join(cells)))
    out.append('\n' + note)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bindir', required=True)
    ap.add_argument('--cowgc', required=True)
    ap.add_argument('-n', type=int, default=3)
    ap.add_argument('--iterations', type=int, default=1000)
    ap.add_argument('--lsan-iterations', type=int, default=100)
    ap.add_argument('--output')
    ap.add_argument('-q', action='store_true')
    a = ap.parse_args()
    lib = os.path.abspath(a.cowgc)
    here = os.path.dirname(os.path.abspath(__file__))
    log = (lambda *x: None) if a.q else (lambda *x: print(*x, file=sys.stderr))
    out = ['## Leak detection: cowgc detect mode vs LeakSanitizer (best of %d)' % a.n]

    # 1. allocation workloads
    cfgs = configs(lib)
    best = {}
    for r in range(a.n):
        for wname, argv in WORKLOADS.items():
            order = cfgs[r % len(cfgs):] + cfgs[:r % len(cfgs)]
            for cname, env in order:
                wall, cpu, so, ok, _ = run([os.path.join(a.bindir, argv[0])] + argv[1:], env)
                ok = ok and 'errors=0' in so
                w0, c0, ok0 = best.get((wname, cname), (1e9, 1e9, True))
                best[(wname, cname)] = (min(w0, wall), min(c0, cpu), ok0 and ok)
                log('run %d %-10s %-16s wall %.3f cpu %.3f%s' % (r, wname, cname, wall, cpu, '' if ok else ' FAIL'))
    names = [c for c, _ in cfgs]
    rows = []
    for w in WORKLOADS:
        cells = []
        for c in names:
            wall, cpu, ok = best[(w, c)]
            cells.append('%.2f / %.2f%s' % (wall, cpu, '' if ok else ' FAIL'))
        rows.append((w, cells))
    table('Allocation workloads: wall s / CPU s', rows, names,
          'CPU = user + system of the process (wait4). Workloads from tests/bench (see README).', out)

    # 2. the fork-heavy shell script
    script = os.path.join(here, 'fork_loop.sh')
    bash = shutil.which('bash')
    variants = [('builtins only', []), ('with one exec per iteration', ['external'])]
    best = {}
    walls = {}          # every run's wall per 1000 iterations: the median is steadier on a busy machine
    for r in range(a.n):
        for vname, extra in variants:
            order = cfgs[r % len(cfgs):] + cfgs[:r % len(cfgs)]
            for cname, env in order:
                iters = a.lsan_iterations if cname == 'LeakSanitizer' else a.iterations
                wall, cpu, so, ok, _ = run([bash, script, str(iters)] + extra, env)
                scale = 1000.0 / iters
                k = (vname, cname)
                w0, c0, ok0 = best.get(k, (1e9, 1e9, True))
                best[k] = (min(w0, wall * scale), min(c0, cpu * scale), ok0 and ok)
                walls.setdefault(k, []).append(wall * scale)
                log('run %d %-28s %-16s wall %.3f cpu %.3f (%d iterations)' % (r, vname, cname, wall, cpu, iters))
    rows = []
    for vname, _ in variants:
        base = best[(vname, 'glibc')]
        base_median = statistics.median(walls[(vname, 'glibc')])
        cells = []
        for c in names:
            wall, cpu, ok = best[(vname, c)]
            median = statistics.median(walls[(vname, c)])
            cells.append('%.2f / %.2f (x%.2f / x%.2f; median wall x%.2f)%s'
                         % (wall, cpu, wall / base[0], cpu / base[1], median / base_median,
                            '' if ok else ' FAIL'))
        rows.append((vname, cells))
    table('fork_loop.sh: wall s / CPU s per 1000 iterations (ratio to no detector)', rows, names,
          'Best of %d; the median wall ratio compares the medians of the %d runs. CPU = user + system of '
          'bash and all its children. LeakSanitizer ran %d iterations, cowgc %d.'
          % (a.n, a.n, a.lsan_iterations, a.iterations), out)

    # 3. report time with 2048 groups
    many = os.path.join(a.bindir, 'manyleaks')
    rcfgs = [('cowgc, llvm-symbolizer', {'COWGC_SYMBOLIZE': 'llvm-symbolizer'}),
             ('cowgc, addr2line', {'COWGC_SYMBOLIZE': 'addr2line'}),
             ('cowgc, symbol tables only', {'COWGC_SYMBOLIZE': '0'}),
             ('cowgc, JSON without symbols', {'COWGC_SYMBOLIZE': '0', 'COWGC_REPORT': 'json'})]
    rcfgs = [(n, dict(e, LD_PRELOAD=lib, COWGC_MODE='detect', COWGC_LOG='/dev/null')) for n, e in rcfgs
             if e['COWGC_SYMBOLIZE'] == '0' or shutil.which(e['COWGC_SYMBOLIZE'])]
    if os.path.exists(LSAN):
        rcfgs.append(('LeakSanitizer (symbolize=1)', {'LD_PRELOAD': LSAN, 'LSAN_OPTIONS': 'exitcode=0',
                                                      'ASAN_SYMBOLIZER_PATH': ''}))
    best = {}
    for r in range(a.n):
        for cname, env in rcfgs:
            wall, cpu, so, ok, end = run([many], env)
            t = None
            for line in so.splitlines():
                if line.startswith('end_ns='):
                    t = end - int(line[7:]) / 1e9
            best[cname] = min(best.get(cname, 1e9), t if t is not None else 1e9)
            log('run %d %-30s report %.3f s total %.3f s' % (r, cname, t or -1, wall))
    table('Report time, manyleaks (2048 groups, 1024 sites): seconds from the end of main to exit',
          [(c, ['%.3f' % best[c]]) for c, _ in rcfgs], ['seconds'],
          'Includes the leak check (stop, mark, classify), symbolisation and writing the report.', out)

    text = '\n'.join(out) + '\n'
    print(text)
    if a.output:
        with open(a.output, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
