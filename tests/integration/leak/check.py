#!/usr/bin/env python3
"""check.py -- runs the leaky programs under libcowgc (and LeakSanitizer) and checks the reports.

Usage: check.py CASE --preload LIBCOWGC --cowgc COMMAND --leaky PROG --dso DSO --churn PROG
                --forky PROG [ENV=VALUE ...]
Cases: json text symtab stripped addr2line llvm badtool symbolize exitcode suppress signal
       reclaimed sample depth0 lsan fork. Exit 77 = skipped.
"""
import json
import os, re, shutil, subprocess, sys, tempfile

# (kind, first frame) -> (bytes, blocks). The sizes are what the program asked for (none is a
# size class), as LeakSanitizer counts them.
EXPECTED = {
    ('direct', 'large_site'): (100000, 1),
    ('direct', 'realloc_site'): (1000, 1),
    ('direct', 'dso_leak_site'): (250, 1),
    ('direct', 'direct_site'): (300, 3),
    ('direct', 'thread_site'): (240, 2),
    ('direct', 'memalign_site'): (200, 1),
    ('direct', 'calloc_site'): (150, 1),
    ('direct', 'inplace_site'): (110, 1),
    ('direct', 'inline_helper'): (70, 1),
    ('direct', 'root_site'): (36, 1),
    ('indirect', 'cycle_site'): (180, 2),
    ('indirect', 'child_site'): (80, 2),
}
TOTAL = (sum(b for b, _ in EXPECTED.values()), sum(c for _, c in EXPECTED.values()))
LSAN = '/usr/lib/x86_64-linux-gnu/liblsan.so.0'
# LeakSanitizer does not scan anonymous mmap'd regions; cowgc (COWGC_ROOTS=all) does.
LSAN_ONLY = {'mmap_keep'}
ALLOCATORS = ('malloc', 'calloc', 'realloc', 'posix_memalign', '__interceptor_malloc', '__interceptor_calloc',
              '__interceptor_realloc', '__interceptor_posix_memalign')


def fail(msg):
    print('FAIL:', msg)
    sys.exit(1)


def skip(msg):
    print('SKIP:', msg)
    sys.exit(77)


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
        if site == 'inline_site':
            site = 'inline_helper'      # no symbolizer: symbol tables know no inlined frames
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


def text_groups(text):
    """A text report (cowgc's or LeakSanitizer's) -> [(kind, bytes, count, [frame lines])]."""
    groups = []
    for line in text.splitlines():
        m = re.match(r'(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\) allocated from:$', line)
        if m:
            groups.append((m.group(1).lower(), int(m.group(2)), int(m.group(3)), []))
        elif groups and line.startswith('    #'):
            groups[-1][3].append(line)
    return groups


def text_sites(text):
    """{(kind, first frame outside the allocator): (bytes, count)} from a text report."""
    got = {}
    for kind, b, c, frames in text_groups(text):
        site = None
        for f in frames:
            parts = f.split()
            if len(parts) >= 4 and parts[2] == 'in' and 'lsan' not in f and parts[3] not in ALLOCATORS:
                site = parts[3]
                break
        ob, oc = got.get((kind, site), (0, 0))
        got[(kind, site)] = (ob + b, oc + c)
    return got


def leaky(a, *extra):
    return [a.leaky, a.dso] + list(extra)


def check_text_form(text, what):
    """LeakSanitizer's order and wording: banner, direct groups then indirect ones, each kind
    largest first, frames numbered from 0, and the SUMMARY line."""
    if not re.search(r'^==\d+==ERROR: cowgc: detected memory leaks$', text, re.M):
        fail('%s: no LSan-style banner:\n%s' % (what, text))
    groups = text_groups(text)
    kinds = [g[0] for g in groups]
    if kinds != sorted(kinds, key=lambda k: k != 'direct'):
        fail('%s: direct and indirect groups are interleaved: %s' % (what, kinds))
    for k in ('direct', 'indirect'):
        sizes = [g[1] for g in groups if g[0] == k]
        if sizes != sorted(sizes, reverse=True):
            fail('%s: %s groups are not largest first: %s' % (what, k, sizes))
    for g in groups:
        nums = [int(re.match(r'    #(\d+) ', f).group(1)) for f in g[3]]
        if nums != list(range(len(nums))):
            fail('%s: frames misnumbered: %s' % (what, g[3]))
    want = 'SUMMARY: cowgc: %d byte(s) leaked in %d allocation(s).' % TOTAL
    if want not in text.splitlines():
        fail('%s: missing %r in:\n%s' % (what, want, text))
    for w in ('Direct leak of 300 byte(s) in 3 object(s) allocated from:',
              'Indirect leak of 40 byte(s) in 1 object(s) allocated from:'):
        if w not in text:
            fail('%s: missing %r in:\n%s' % (what, w, text))


def frame_of(text, func):
    for line in text.splitlines():
        if ' in %s ' % func in line:
            return line
    fail('no frame in %s:\n%s' % (func, text))


def case_json(a):
    p, text = cowgc(a, leaky(a), {})
    d = docs(text)[-1]
    compare(by_site(d), EXPECTED)
    if (d['summary']['bytes'], d['summary']['count']) != TOTAL:
        fail('summary %s, want %s' % (d['summary'], TOTAL))
    if p.returncode != 0:
        fail('exit status %d changed without COWGC_LEAK_EXITCODE' % p.returncode)
    groups = d['groups']
    kinds = [g['kind'] for g in groups]
    if kinds != sorted(kinds, key=lambda k: k != 'direct'):
        fail('direct and indirect groups are interleaved: %s' % kinds)
    for k in ('direct', 'indirect'):
        sizes = [g['bytes'] for g in groups if g['kind'] == k]
        if sizes != sorted(sizes, reverse=True):
            fail('%s groups are not sorted largest first: %s' % (k, sizes))


def symbolised_text(a, env, what):
    p, text = cowgc(a, leaky(a), env, report='text')
    check_text_form(text, what)
    if text_sites(text) != EXPECTED:
        compare(text_sites(text), EXPECTED)
    if p.returncode != 0 or 'leaky: done' not in p.stdout:
        fail('exit %d, stdout %r' % (p.returncode, p.stdout))
    return text


def check_file_lines(text, what, columns):
    """Functions with file:line (and the column from llvm-symbolizer); the inlined helper and the
    function it was inlined into at the same pc, innermost first."""
    loc = r'\S*leaky\.c:\d+' + (r':\d+' if columns else '')
    line = frame_of(text, 'direct_site')
    if not re.match(r'    #0 0x[0-9a-f]+ in direct_site ' + loc + '$', line):
        fail('%s: not "#0 0x... in direct_site FILE:LINE": %r' % (what, line))
    if not re.search(r' in dso_leak_site \S*leakdso\.c:\d+', text):
        fail('%s: the dlopen\'d library is not symbolised with file:line:\n%s' % (what, text))
    h, s = frame_of(text, 'inline_helper'), frame_of(text, 'inline_site')
    if not (h.startswith('    #0 ') and s.startswith('    #1 ') and h.split()[1] == s.split()[1]):
        fail('%s: inlined frames: %r then %r' % (what, h, s))


def case_text(a):
    """The default symbolizer (llvm-symbolizer, else addr2line, from PATH)."""
    tool = shutil.which('llvm-symbolizer') or shutil.which('addr2line')
    if not tool:
        skip('neither llvm-symbolizer nor addr2line is installed')
    text = symbolised_text(a, {}, 'default symbolizer')
    check_file_lines(text, 'default symbolizer', 'llvm' in tool)


def case_addr2line(a):
    tool = shutil.which('addr2line')
    if not tool:
        skip('addr2line (binutils) is not installed')
    check_file_lines(symbolised_text(a, {'COWGC_SYMBOLIZE': tool}, 'addr2line'), 'addr2line', False)


def case_llvm(a):
    tool = shutil.which('llvm-symbolizer')
    if not tool:
        skip('llvm-symbolizer is not installed')
    check_file_lines(symbolised_text(a, {'COWGC_SYMBOLIZE': 'llvm-symbolizer'}, 'llvm-symbolizer'),
                     'llvm-symbolizer', True)


def case_symtab(a):
    """COWGC_SYMBOLIZE=0: names from the symbol tables (static functions too), object+offset."""
    p, text = cowgc(a, leaky(a), {'COWGC_SYMBOLIZE': '0'}, report='text')
    check_text_form(text, 'symtab')
    line = frame_of(text, 'direct_site')
    if not re.match(r'    #0 0x[0-9a-f]+ in direct_site \(\S*it_leaky\+0x[0-9a-f]+\)$', line):
        fail('not "#0 0x... in direct_site (MODULE+0xOFF)": %r' % line)
    if not re.search(r' in dso_leak_site \(\S*libleakdso\.so\+0x[0-9a-f]+\)', text):
        fail('the dlopen\'d library is not named:\n' + text)


def case_stripped(a):
    """Without debug info the symbolizer still names static functions from .symtab; without
    .symtab either, frames are object+offset."""
    if not shutil.which('strip'):
        skip('strip (binutils) is not installed')
    with tempfile.TemporaryDirectory() as d:
        nodebug, bare = os.path.join(d, 'leaky_nodebug'), os.path.join(d, 'leaky_bare')
        shutil.copy(a.leaky, nodebug)
        shutil.copy(a.leaky, bare)
        subprocess.run(['strip', '--strip-debug', nodebug], check=True)
        subprocess.run(['strip', '--strip-all', bare], check=True)
        _, text = cowgc(a, [nodebug, a.dso], {}, report='text')
        line = frame_of(text, 'direct_site')
        if not re.match(r'    #0 0x[0-9a-f]+ in direct_site \(\S*leaky_nodebug\+0x[0-9a-f]+\)$', line):
            fail('static function of a binary without debug info: %r' % line)
        _, text = cowgc(a, [bare, a.dso], {}, report='text')
        check_text_form(text, 'stripped')
        g = [g for g in text_groups(text) if g[:3] == ('direct', 300, 3)]
        if not g or not re.match(r'    #0 0x[0-9a-f]+  \(\S*leaky_bare\+0x[0-9a-f]+\)$', g[0][3][0]):
            fail('stripped binary: want "#0 0x...  (MODULE+0xOFF)":\n' + text)


def case_badtool(a):
    p, text = cowgc(a, leaky(a), {'COWGC_SYMBOLIZE': '/nonexistent/symbolizer'}, report='text')
    msgs = [l for l in text.splitlines() if 'COWGC_SYMBOLIZE=/nonexistent/symbolizer' in l]
    if len(msgs) != 1:
        fail('want one line about the bad symbolizer, got:\n' + text)
    check_text_form(text, 'bad symbolizer')
    frame_of(text, 'direct_site')


def normalise(text):
    """Addresses and pids differ between runs (ASLR); the rest of a report must not."""
    text = re.sub(r'0x[0-9a-f]+', '0x?', text)
    return re.sub(r'==\d+==', '==?==', text)


def case_symbolize(a):
    """cowgc symbolize turns a JSON report written without symbols into the text report."""
    _, js = cowgc(a, leaky(a), {'COWGC_SYMBOLIZE': '0'})
    docs(js)
    _, direct = cowgc(a, leaky(a), {}, report='text')
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        f.write('noise before the report\n' + js)
    try:
        p = subprocess.run([a.cowgc, 'symbolize', f.name], capture_output=True, text=True, timeout=120)
        p2 = subprocess.run([a.cowgc, 'symbolize'], input=js, capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(f.name)
    if p.returncode != 0 or p2.stdout != p.stdout:
        fail('cowgc symbolize: exit %d, stderr %r; stdin and file differ: %s' % (p.returncode, p.stderr,
                                                                                 p2.stdout != p.stdout))
    check_text_form(p.stdout, 'cowgc symbolize')
    if normalise(p.stdout).strip() != normalise(direct).strip():
        fail('cowgc symbolize differs from the report symbolised at exit:\n--- symbolize\n%s\n--- at exit\n%s'
             % (p.stdout, direct))
    p = subprocess.run([a.cowgc, 'symbolize', '/nonexistent.json'], capture_output=True, text=True)
    if p.returncode == 0 or p.stderr.count('\n') != 1:
        fail('a missing file: exit %d, %r' % (p.returncode, p.stderr))


def case_exitcode(a):
    p, _ = cowgc(a, leaky(a), {'COWGC_LEAK_EXITCODE': '23'}, report='text')
    if p.returncode != 23:
        fail('exit status %d, want 23' % p.returncode)
    if 'leaky: done' not in p.stdout:
        fail('the program\'s buffered stdout was lost: %r' % p.stdout)
    p, _ = cowgc(a, [a.churn, '0'], {'COWGC_LEAK_EXITCODE': '23'})
    if p.returncode != 0:
        fail('exit status %d without leaks, want 0' % p.returncode)
    # A program that closes its stderr at exit, with the log there (no COWGC_LOG): its report
    # can be read by no one, and the check is skipped, but not when the exit status hangs on it.
    env = {'LD_PRELOAD': a.preload, 'COWGC_MODE': 'detect'}
    env.update(a.env)
    p = run(leaky(a, '--close-stderr'), dict(env, COWGC_LEAK_EXITCODE='23'))
    if p.returncode != 23:
        fail('stderr closed at exit: exit status %d, want 23 (the check must still run)' % p.returncode)
    p = run(leaky(a, '--close-stderr'), env)
    if p.returncode != 0 or 'leaky: done' not in p.stdout:
        fail('stderr closed at exit, no exit code asked: status %d, stdout %r' % (p.returncode, p.stdout))


def case_suppress(a):
    with tempfile.NamedTemporaryFile('w', suffix='.supp', delete=False) as f:
        f.write('# known leaks\nleak:direct_site\ncycle_*\nrace:whatever\nleak:leakdso.c\n')
    try:
        p, text = cowgc(a, leaky(a), {'COWGC_SUPPRESS': f.name})
        _, ttext = cowgc(a, leaky(a), {'COWGC_SUPPRESS': f.name}, report='text')
    finally:
        os.unlink(f.name)
    d = docs(text)[-1]
    gone = ('direct_site', 'cycle_site', 'dso_leak_site')
    want = {k: v for k, v in EXPECTED.items() if k[1] not in gone}
    compare(by_site(d), want)
    if (d['suppressed']['bytes'], d['suppressed']['count']) != (730, 6):
        fail('suppressed %s, want 730 bytes in 6' % d['suppressed'])
    templ = {t['template']: (t['count'], t['bytes']) for t in d['suppressed']['templates']}
    if templ != {'direct_site': (3, 300), 'cycle_*': (2, 180), 'leakdso.c': (1, 250)}:
        fail('suppression hits %s' % templ)
    # LeakSanitizer's table: count and bytes per template, between dashed lines, before SUMMARY.
    block = re.search(r'\n-+\nSuppressions used:\n  count      bytes template\n((?:.*\n)*?)-+\n\nSUMMARY', ttext)
    if not block or [l.split() for l in block.group(1).splitlines()] != [
            ['3', '300', 'direct_site'], ['2', '180', 'cycle_*'], ['1', '250', 'leakdso.c']]:
        fail('no LSan-style suppression table:\n' + ttext)


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
    if c < 150000 or b != 60 * c:
        fail('churn_site reclaimed %d blocks (%d bytes), want >= 150000 of 60 bytes (requested)' % (c, b))
    if any(k[1] == 'kept_site' for k in got):
        fail('a reachable block was reported as reclaimed')
    p, text = cowgc(a, [a.churn], env, report='text')
    if not re.search(r'^Reclaimed by cowgc: \d+ byte\(s\) in \d+ object\(s\) allocated from:$', text, re.M) or \
            not re.search(r'^SUMMARY: cowgc: \d+ byte\(s\) reclaimed in \d+ allocation\(s\)\.$', text, re.M) or \
            ' in churn_site ' not in text:
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
    """No stacks, but the requested sizes are still counted."""
    p, text = cowgc(a, leaky(a), {'COWGC_STACK_DEPTH': '0'})
    d = docs(text)[-1]
    got = by_site(d)
    want = {('direct', None): (0, 0), ('indirect', None): (0, 0)}
    for (kind, _), (b, c) in EXPECTED.items():
        ob, oc = want[(kind, None)]
        want[(kind, None)] = (ob + b, oc + c)
    compare(got, want)


def case_lsan(a):
    """Bytes and objects per (kind, allocation site) agree with LeakSanitizer, in our JSON and in
    our text report read by the same parser as LSan's."""
    if not os.path.exists(LSAN):
        skip('%s is not installed (Debian package liblsan0)' % LSAN)
    p = run(leaky(a), {'LD_PRELOAD': LSAN, 'LSAN_OPTIONS': 'exitcode=0:symbolize=1'})
    theirs = {k: v for k, v in text_sites(p.stderr).items() if k[1] not in LSAN_ONLY}
    if not theirs:
        fail('no LeakSanitizer report:\n' + p.stderr)
    summary = re.search(r'SUMMARY: LeakSanitizer: (\d+) byte\(s\) leaked in (\d+) allocation\(s\)\.', p.stderr)
    _, text = cowgc(a, leaky(a), {})
    ours = by_site(docs(text)[-1])
    compare(ours, theirs)
    _, ttext = cowgc(a, leaky(a), {}, report='text')
    compare(text_sites(ttext), theirs)
    lsan_only = sum(v[0] for k, v in text_sites(p.stderr).items() if k[1] in LSAN_ONLY), \
        sum(v[1] for k, v in text_sites(p.stderr).items() if k[1] in LSAN_ONLY)
    ours_sum = re.search(r'SUMMARY: cowgc: (\d+) byte\(s\) leaked in (\d+) allocation\(s\)\.', ttext)
    if not summary or not ours_sum or (int(ours_sum.group(1)) + lsan_only[0], int(ours_sum.group(2)) + lsan_only[1]) \
            != (int(summary.group(1)), int(summary.group(2))):
        fail('SUMMARY lines disagree: %s vs %s' % (summary and summary.group(0), ours_sum and ours_sum.group(0)))
    print('cowgc and LeakSanitizer agree on %d sites, %d bytes in %d objects' % (
        len(ours), sum(b for b, _ in ours.values()), sum(c for _, c in ours.values())))


def case_fakefp(a):
    """rbp holding data at the allocation (code without frame pointers): the stack ends at the
    last real frame, with no frame made of a stack word or a heap pointer."""
    p, text = cowgc(a, [a.fakefp], {'COWGC_SYMBOLIZE': '0'}, report='text')
    if p.returncode != 0 or 'fakefp: done' not in p.stdout:
        fail('it_fakefp: exit %d, stdout %r, stderr %r' % (p.returncode, p.stdout, p.stderr))
    groups = [g for g in text_groups(text) if g[3] and ' in fake_frame_site ' in g[3][0]]
    if len(groups) != 1 or groups[0][:3] != ('direct', 40, 1):
        fail('want one direct leak of 40 bytes in 1 object from fake_frame_site:\n' + text)
    if len(groups[0][3]) != 1:
        fail('the stack goes on past fake_frame_site, whose rbp is no frame pointer:\n' + text)
    # A heap pointer where the return address would be is no frame either: one group.
    groups = [g for g in text_groups(text) if g[3] and ' in heap_frame_site ' in g[3][0]]
    if len(groups) != 1 or groups[0][:3] != ('direct', 168, 3):
        fail('want one direct leak of 168 bytes in 3 objects from heap_frame_site:\n' + text)
    if len(groups[0][3]) != 1:
        fail('the stack goes on past heap_frame_site, whose rbp is no frame pointer:\n' + text)


def case_fork(a):
    """A forked child reports only the leaks among the blocks it allocated itself."""
    p, text = cowgc(a, [a.forky], {'COWGC_SYMBOLIZE': '0'})
    pids = dict(kv.split('=') for kv in p.stdout.split())
    if p.returncode != 0 or set(pids) != {'A', 'D', 'B', 'C', 'G', 'H', 'E', 'R', 'P'}:
        fail('forky: exit %d, stdout %r' % (p.returncode, p.stdout))
    reports, seen = {}, set()
    for d in docs(text):
        if d['pid'] in seen:
            fail('two reports from pid %s' % d['pid'])
        seen.add(d['pid'])
        who = [k for k, v in pids.items() if v == str(d['pid'])]
        reports[who[0] if who else d['pid']] = by_site(d)
    want = {'B': {('direct', 'b_leak_site'): (222, 1)},
            'C': {('direct', 'c_leak_site'): (223, 1)},
            'G': {('direct', 'g_leak_site'): (224, 1)},
            'R': {('direct', 'r_leak_site'): (230, 1)},
            'E': {('direct', 'e_early_site'): (225, 1), ('direct', 'e_memalign_site'): (227, 1),
                  ('direct', 'e_late_site'): (226, 1)},
            'P': {('direct', 'parent_site'): (111, 1), ('direct', 'parent_late_site'): (113, 1),
                  ('direct', 'p_memalign_site'): (229, 1), ('direct', 'parent_last_site'): (114, 1),
                  ('direct', 'thread_late_site'): (115, 1)}}
    if reports != want:
        fail('reports by process:\n%s\nwant\n%s' % (reports, want))
    # D's blocks are reachable from a global and from the inherited table, one only through an
    # interior pointer: its exit check needs no stop and no full mark (the quick check's filter
    # must cover every granule of a block). B leaks, so its check goes on to the full mark.
    p, text = cowgc(a, [a.forky], {'COWGC_SYMBOLIZE': '0', 'COWGC_VERBOSE': '1'})
    pids = dict(kv.split('=') for kv in p.stdout.split())
    # D's blocks need the pagemap pass (the table and the global are inherited pages it wrote),
    # and with no sibling alive its parent's pagemap, inherited open, tells them all.
    quick = re.search(r"leak check of forked child %s: quick, its 3 live blocks are reachable "
                      r"\(pagemap read: the parent's; \d+ logged\)" % pids['D'], text)
    full = re.search(r'leak check of forked child %s: full' % pids['B'], text)
    # H does what D does one generation down: its parent C is a forked child, whose pages H's
    # relatives still share, so H reads only its own pagemap (not C's first, for nothing).
    own = re.search(r"leak check of forked child %s: quick, its 3 live blocks are reachable "
                    r"\(pagemap read: its own; \d+ logged\)" % pids['H'], text)
    if not quick or not full or not own:
        fail('forky, COWGC_VERBOSE=1: want a quick exit check for D (pid %s, through its parent\'s pagemap), a full one '
             'for B (pid %s) and a quick one for H (pid %s, through its own pagemap only):\n%s' %
             (pids['D'], pids['B'], pids['H'], '\n'.join(l for l in text.splitlines() if 'leak check' in l)))


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
