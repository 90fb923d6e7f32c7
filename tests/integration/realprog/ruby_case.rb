# ruby_case.rb -- a Ruby script whose own source must survive the collections of start-up
# (Ruby reads it through an IO whose buffer pointer sits in a packed structure).
require 'json'; require 'zlib'; require 'digest'; require 'set'
h = { 'a' => 1, 'b' => [1, 2, 3], 'c' => 'x' * 100 }
data = (1..20000).map { |i| { 'id' => i, 'name' => "item#{i}", 'tags' => [i % 7, i % 11] } }
s = JSON.generate(data)
back = JSON.parse(s)
puts back.size, back[12345]['name']
z = Zlib::Deflate.deflate(s)
puts Zlib::Inflate.inflate(z) == s
puts Digest::SHA256.hexdigest(s)
puts Set.new(back.map { |e| e['tags'][0] }).size
puts JSON.generate(h)
