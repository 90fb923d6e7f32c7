#!/usr/bin/env python3
"""check.py -- runs the leaky programs under libcowgc (and LeakSanitizer) and checks the reports.

Usage: check.py CASE --preload LIBCOWGC --leaky PROG --dso DSO --churn PROG [ENV=VALUE ...]
Cases: json text exitcode suppress signal reclaimed sample depth0 lsan. Exit 77 = skipped.
"""
import json, os, subprocess, sys, tempfile

# (kind, first frame) -> (bytes, blocks): every size is a size class, so both tools agree.
EXPECTED = {
    ('direct', 'large_site'): (131072, 1),
    ('direct', 'realloc_site'): (1024, 1),
    ('direct', 'dso_leak_site'): (256, 1),
    ('direct', 'direct_site'): (192, 3),
    ('direct', 'calloc_site'): (160, 1),
    ('direct', 'thread_site'): (256, 2),
    ('direct', 'root_site'): (32, 1),
    ('indirect', 'cycle_site'): (192, 2),
    ('indirect', 'child_site'): (96, 2),
}
TOTAL = (sum(b for b, _ in EXPECTED.values()), sum(c for _, c in EXPECTED.values()))
LSAN = '/usr/lib/x86_64-linux-gnu/liblsan.so.0'
# LeakSanitizer does not scan anonymous mmap'd regions; cowgc (COWGC_ROOTS=all) does.
LSAN_ONLY = {'mmap_keep'}


def fail(msg):
    print('FAIL:', msg)
    sys.exit(1)


def run(args, env_extra, timeout=120):
    env = dict(os.environ)
    env.update(env_extra)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def cowgc(a, prog_args, env_extra, report='json'):
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, 'log')
        env = {'LD_PRELOAD': a.preload, 'COWGC_MODE': 'detect', 'COWGC_REPORT': report, 'COWGC_LOG': log}
        env.update(a.env)
        env.update(env_extra)
        p = run(prog_args, env)
        text = open(log).read() if os.path.exists(log) else ''
    return p, text


def docs(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('{'):
            out.append(json.loads(line))
    if not out:
        fail('no JSON report in the log:\n' + text)
    return out


def by_site(doc):
    got = {}
    for g in doc['groups']:
        site = g['stack'][0]['function'] if g['stack'] else None
        b, c = got.get((g['kind'], site), (0, 0))
        got[(g['kind'], site)] = (b + g['bytes'], c + g['count'])
        for f in g['stack']:
            if f['function'] and f['function'].endswith('_keep'):
                fail('a reachable block was reported: %s' % json.dumps(g))
    return got


def compare(got, want):
    if got != want:
        lines = ['%-10s %-14s got %-14s want %s' % (k[0], k[1], got.get(k), want.get(k))
                 for k in sorted(set(got) | set(want), key=str) if got.get(k) != want.get(k)]
        fail('groups differ:\n' + '\n'.join(lines))


def leaky(a, *extra):
    return [a.leaky, a.dso] + list(extra)


def case_json(a):
    p, text = cowgc(a, leaky(a), {})
    d = docs(text)[-1]
    compare(by_site(d), EXPECTED)
    if (d['summary']['bytes'], d['summary']['count']) != TOTAL:
        fail('summary %s, want %s' % (d['summary'], TOTAL))
    if p.returncode != 0:
        fail('exit status %d changed without COWGC_LEAK_EXITCODE' % p.returncode)
    groups = d['groups']
    if [g['bytes'] for g in groups] != sorted((g['bytes'] for g in groups), reverse=True):
        fail('groups are not sorted largest first')


def case_text(a):
    p, text = cowgc(a, leaky(a), {}, report='text')
    want = ['Direct leak of 192 byte(s) in 3 object(s) allocated from:',
            'Indirect leak of 48 byte(s) in 1 object(s) allocated from:',
            'SUMMARY: cowgc: %d bytes leaked in %d allocations.' % TOTAL]
    for w in want:
        if w not in text:
            fail('missing %r in:\n%s' % (w, text))
    if ' in direct_site+0x' not in text or 'leaky+0x' not in text or 'libleakdso.so+0x' not in text:
        fail('frames are not symbolised as func+0xoff (module+0xoff):\n' + text)
    if p.returncode != 0 or 'leaky: done' not in p.stdout:
        fail('exit %d, stdout %r' % (p.returncode, p.stdout))


def case_exitcode(a):
    p, _ = cowgc(a, leaky(a), {'COWGC_LEAK_EXITCODE': '23'}, report='text')
    if p.returncode != 23:
        fail('exit status %d, want 23' % p.returncode)
    if 'leaky: done' not in p.stdout:
        fail('the program\'s buffered stdout was lost: %r' % p.stdout)
    p, _ = cowgc(a, [a.churn, '0'], {'COWGC_LEAK_EXITCODE': '23'})
    if p.returncode != 0:
        fail('exit status %d without leaks, want 0' % p.returncode)


def case_suppress(a):
    with tempfile.NamedTemporaryFile('w', suffix='.supp', delete=False) as f:
        f.write('# known leaks\nleak:direct_site\ncycle_*\nrace:whatever\n')
    try:
        p, text = cowgc(a, leaky(a), {'COWGC_SUPPRESS': f.name})
    finally:
        os.unlink(f.name)
    d = docs(text)[-1]
    want = {k: v for k, v in EXPECTED.items() if k[1] not in ('direct_site', 'cycle_site')}
    compare(by_site(d), want)
    if (d['suppressed']['bytes'], d['suppressed']['count']) != (384, 5):
        fail('suppressed %s, want 384 bytes in 5' % d['suppressed'])


def case_signal(a):
    p, text = cowgc(a, leaky(a, '--signal', '12'), {'COWGC_REPORT_SIGNAL': 'SIGUSR2'})
    ds = docs(text)
    if len(ds) != 2:
        fail('%d reports, want 2 (signal, exit)' % len(ds))
    for d in ds:
        compare(by_site(d), EXPECTED)


def case_reclaimed(a):
    env = {'COWGC_MODE': 'collect', 'COWGC_REPORT_RECLAIMED': '1', 'COWGC_MIN_TRIGGER': '256K'}
    p, text = cowgc(a, [a.churn], env)
    d = docs(text)[-1]
    if d['cowgc'] != 'reclaimed':
        fail('not a reclaimed report: %s' % d['cowgc'])
    got = by_site(d)
    b, c = got.get(('reclaimed', 'churn_site'), (0, 0))
    if c < 150000 or b != 64 * c:
        fail('churn_site reclaimed %d blocks (%d bytes), want >= 150000 of 64 bytes' % (c, b))
    if any(k[1] == 'kept_site' for k in got):
        fail('a reachable block was reported as reclaimed')
    p, text = cowgc(a, [a.churn], env, report='text')
    if 'Reclaimed by cowgc: ' not in text or 'bytes reclaimed in' not in text or 'in churn_site+0x' not in text:
        fail('text reclaimed report:\n' + text)


def case_sample(a):
    p, text = cowgc(a, leaky(a), {'COWGC_STACK_SAMPLE': '3'})
    d = docs(text)[-1]
    if (d['summary']['bytes'], d['summary']['count']) != TOTAL:
        fail('summary %s, want %s' % (d['summary'], TOTAL))
    got = by_site(d)
    for k, (b, c) in got.items():
        if k[1] is not None and (k not in EXPECTED or c > EXPECTED[k][1]):
            fail('sampled group %s: %s' % (k, (b, c)))


def case_depth0(a):
    p, text = cowgc(a, leaky(a), {'COWGC_STACK_DEPTH': '0'})
    d = docs(text)[-1]
    got = by_site(d)
    want = {('direct', None): (0, 0), ('indirect', None): (0, 0)}
    for (kind, _), (b, c) in EXPECTED.items():
        ob, oc = want[(kind, None)]
        want[(kind, None)] = (ob + b, oc + c)
    compare(got, want)


def lsan_sites(stderr, a):
    """LeakSanitizer's text report -> {(kind, first frame outside the runtime): (bytes, count)}."""
    got, cur = {}, None
    for line in stderr.splitlines():
        s = line.strip()
        if s.startswith(('Direct leak of', 'Indirect leak of')):
            w = s.split()
            cur = [w[0].lower(), int(w[3]), int(w[6]), None]
        elif cur and s.startswith('#') and cur[3] is None:
            parts = s.split()
            if len(parts) >= 4 and parts[2] == 'in' and 'lsan' not in s and parts[3] not in (
                    'malloc', 'calloc', 'realloc', '__interceptor_malloc', '__interceptor_calloc',
                    '__interceptor_realloc'):
                cur[3] = parts[3]
                b, c = got.get((cur[0], cur[3]), (0, 0))
                got[(cur[0], cur[3])] = (b + cur[1], c + cur[2])
    return got


def case_lsan(a):
    if not os.path.exists(LSAN):
        print('SKIP: %s is not installed (Debian package liblsan0)' % LSAN)
        sys.exit(77)
    p = run(leaky(a), {'LD_PRELOAD': LSAN, 'LSAN_OPTIONS': 'exitcode=0:symbolize=1'})
    theirs = {k: v for k, v in lsan_sites(p.stderr, a).items() if k[1] not in LSAN_ONLY}
    if not theirs:
        fail('no LeakSanitizer report:\n' + p.stderr)
    _, text = cowgc(a, leaky(a), {})
    ours = by_site(docs(text)[-1])
    compare(ours, theirs)
    print('cowgc and LeakSanitizer agree on %d sites, %d bytes' % (len(ours), sum(b for b, _ in ours.values())))


def main():
    class A:
        pass
    a = A()
    args = sys.argv[1:]
    case = args.pop(0)
    a.env = {}
    while args:
        k = args.pop(0)
        if k.startswith('--'):
            setattr(a, k[2:], args.pop(0))
        else:
            n, v = k.split('=', 1)
            a.env[n] = v
    globals()['case_' + case](a)
    print('ok:', case, ' '.join('%s=%s' % kv for kv in a.env.items()))


if __name__ == '__main__':
    main()
