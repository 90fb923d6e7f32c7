// node.js -- Node.js under load: objects, Buffers, zlib, crypto, worker_threads and a
// child_process.fork child; every line printed is a checksum or count, the same on every run.
'use strict';
const zlib = require('zlib');
const crypto = require('crypto');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { fork } = require('child_process');

function lcg(seed) {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2147483648);
}
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

function work(seed, n) {
  const r = lcg(seed);
  const objs = [];
  for (let i = 0; i < n; i++) {
    objs.push({ id: i, name: 'n' + (r() % 100000), tags: Array.from({ length: i % 5 }, (_, k) => 't' + ((i + k) % 13)) });
  }
  objs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
  const json = JSON.stringify(objs);
  // Buffers live outside V8's heap: allocated with malloc.
  const bufs = [];
  for (let i = 0; i < 2000; i++) bufs.push(Buffer.alloc(1000 + (i % 7) * 100, i % 251));
  const big = Buffer.concat(bufs);
  return { json: sha(json), len: json.length, big: sha(big), bigLen: big.length };
}

if (process.argv[2] === 'child') {
  process.on('message', (m) => {
    process.send({ child: work(m.seed, 20000) });
    process.disconnect();
  });
} else if (!isMainThread) {
  parentPort.postMessage(work(workerData.seed, 30000));
} else {
  const main = work(1, 60000);
  console.log('main', main.len, main.json, main.bigLen, main.big);

  const text = Buffer.from(Array.from({ length: 50000 }, (_, i) => `line ${i} ${i * 7919 % 10007}\n`).join(''));
  const gz = zlib.gzipSync(text, { level: 6 });
  const back = zlib.gunzipSync(gz);
  const br = zlib.brotliCompressSync(text);
  console.log('zlib', text.length, sha(back) === sha(text), zlib.brotliDecompressSync(br).equals(text),
              'deflate sha', sha(zlib.deflateRawSync(text)));

  const workers = [2, 3].map((seed) => new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { seed } });
    w.on('message', resolve);
    w.on('error', reject);
  }));
  const child = new Promise((resolve, reject) => {
    const c = fork(__filename, ['child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got = null;
    c.on('message', (m) => { got = m; });
    c.on('exit', (code) => (code === 0 && got ? resolve(got) : reject(new Error('child exit ' + code))));
    c.send({ seed: 4 });
  });
  // A stream pipeline through zlib, in chunks
  const streamed = new Promise((resolve) => {
    const gzs = zlib.createGzip();
    const chunks = [];
    gzs.on('data', (c) => chunks.push(c));
    gzs.on('end', () => resolve(zlib.gunzipSync(Buffer.concat(chunks)).length));
    for (let i = 0; i < 200; i++) gzs.write(text.subarray(i * 1000, i * 1000 + 1000));
    gzs.end();
  });
  Promise.all([...workers, child, streamed]).then(([w1, w2, c, s]) => {
    console.log('worker', w1.len, w1.json, w1.big);
    console.log('worker', w2.len, w2.json, w2.big);
    console.log('child', c.child.len, c.child.json, c.child.big);
    console.log('stream', s);
  }, (e) => { console.error(e); process.exit(1); });
}
