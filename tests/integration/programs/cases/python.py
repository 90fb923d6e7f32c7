# python.py -- CPython with PYTHONMALLOC=malloc (every object from malloc): json, zlib, hashlib,
# re, collections, sqlite3, threads and fork; prints checksums and counts, the same every run.
import collections, hashlib, json, os, re, sqlite3, threading, zlib

x = 12345
def rnd():
    global x
    x = (x * 1103515245 + 12345) % 2147483648
    return x

recs = [{"id": i, "name": "item-%06d" % (rnd() % 1000000), "tags": ["t%d" % ((i + k) % 17) for k in range(i % 5)]}
        for i in range(60000)]
recs.sort(key=lambda r: (r["name"], r["id"]))
js = json.dumps(recs, sort_keys=True)
print("json", len(js), hashlib.sha256(js.encode()).hexdigest())
print("roundtrip", json.loads(js) == recs)
z = zlib.compress(js.encode(), 6)
print("zlib", len(z), zlib.decompress(z) == js.encode(), zlib.crc32(z))

c = collections.Counter(t for r in recs for t in r["tags"])
print("counter", sorted(c.items())[:4])
words = re.findall(r"item-(\d\d)", js)
print("re", len(words), collections.Counter(words).most_common(1)[0][1], len(re.sub(r"\d", "#", js)))

db = sqlite3.connect(":memory:")
db.execute("create table r (id integer primary key, name text, ntags int)")
db.executemany("insert into r values (?, ?, ?)", ((r["id"], r["name"], len(r["tags"])) for r in recs))
db.execute("create index r_name on r (name)")
print("sqlite", db.execute("select count(*), sum(ntags), min(name), max(name) from r").fetchone())

out = {}
def worker(k):
    d = collections.defaultdict(list)
    for i in range(40000):
        d[(i * (k + 3)) % 997].append(str(i) * (1 + i % 3))
    out[k] = hashlib.md5(repr(sorted((a, len(b)) for a, b in d.items())).encode()).hexdigest()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
for t in ts: t.start()
for t in ts: t.join()
print("threads", [out[k] for k in range(3)])

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    s = "".join(r_["name"].upper() for r_ in recs)
    os.write(w, ("%d %s" % (len(s), hashlib.sha1(s.encode()).hexdigest())).encode())
    os._exit(0)
os.close(w)
msg = os.read(r, 200).decode()
_, status = os.waitpid(pid, 0)
print("fork", msg, os.waitstatus_to_exitcode(status))
print("done")
