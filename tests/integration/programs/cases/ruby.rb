# ruby.rb -- Ruby's standard library under load: json, zlib, digest, set, threads, Ractors and
# fork; every line printed is a checksum or a count that is the same on every correct run.
require 'json'
require 'zlib'
require 'digest'
require 'set'
require 'stringio'

def lcg(seed)
  x = seed
  -> { x = (x * 1103515245 + 12345) % 2**31 }
end

# Objects, strings, hashes and arrays that live long enough to meet several collections.
rnd = lcg(42)
records = (0...40_000).map do |i|
  { 'id' => i, 'name' => "item-#{rnd.call % 100_000}", 'tags' => (0...(i % 5)).map { |k| "t#{(i + k) % 17}" },
    'score' => (rnd.call % 10_000) / 100.0 }
end
json = JSON.generate(records)
puts "json bytes #{json.bytesize} sha256 #{Digest::SHA256.hexdigest(json)}"
back = JSON.parse(json)
puts "json round trip #{back == records}"

# zlib: deflate and inflate, in one go and streamed in pieces.
z = Zlib::Deflate.deflate(json, 6)
puts "deflate bytes #{z.bytesize} adler #{Zlib.adler32(json)}"
inf = Zlib::Inflate.new
out = +''
z.bytes.each_slice(4096) { |s| out << inf.inflate(s.pack('C*')) }
out << inf.finish
inf.close
puts "inflate ok #{out == json}"
io = StringIO.new(+'')
w = Zlib::GzipWriter.new(io)
w.mtime = 0
200.times { |i| w.write("line #{i} " * 50 + "\n") }
w.finish
puts "gzip md5 #{Digest::MD5.hexdigest(io.string)}"

# digest and set
s = Set.new
records.each { |r| r['tags'].each { |t| s << t } }
puts "distinct tags #{s.size} #{s.to_a.sort.first(3).join(',')}"
d = Digest::SHA1.new
records.each { |r| d << r['name'] }
puts "sha1 of names #{d.hexdigest}"

# string churn: garbage for the collector
acc = Hash.new(0)
200_000.times { |i| acc["k#{i % 9973}"] += "#{i}-#{i * 7}".length }
puts "hash sum #{acc.values.sum} keys #{acc.size}"

# threads: each builds and sorts its own arrays, results go through a Queue
q = Queue.new
threads = 4.times.map do |t|
  Thread.new do
    r = lcg(t + 1)
    a = Array.new(50_000) { r.call % 1_000_000 }
    q << [t, a.sort.each_slice(1000).map(&:first).sum, a.map(&:to_s).join(',').bytesize]
  end
end
threads.each(&:join)
res = []
res << q.pop until q.empty?
res.sort.each { |t, a, b| puts "thread #{t} #{a} #{b}" }

# Ractors: parallel, each with its own objects
rs = 2.times.map do |k|
  Ractor.new(k) do |kk|
    h = {}
    30_000.times { |i| h["r#{kk}-#{i}"] = [i, i.to_s * 3] }
    h.sum { |key, v| key.length + v[1].length }
  end
end
rs.each_with_index { |r, k| puts "ractor #{k} #{r.take}" }

# fork: the child uses inherited objects and makes new ones, and reports through a pipe
rd, wr = IO.pipe
pid = fork do
  rd.close
  child = records.map { |r| r['name'].upcase }.uniq.size
  big = Array.new(100_000) { |i| "c#{i}" }.join
  wr.write("#{child} #{big.bytesize}")
  wr.close
  exit!(0)
end
wr.close
msg = rd.read
rd.close
Process.wait(pid)
puts "fork child said #{msg} status #{$?.exitstatus}"
puts "done #{records.size}"
