<?php
// php.php -- php-cli: arrays, strings, json, preg, serialize, sorting, zlib, hashes, objects;
// prints checksums and counts that are the same on every correct run.
$x = 12345;
function rnd() { global $x; $x = ($x * 1103515245 + 12345) % 2147483648; return $x; }

class Item {
    public function __construct(public int $id, public string $name, public array $tags) {}
    public function key(): string { return $this->name . '#' . $this->id; }
}

$items = [];
for ($i = 0; $i < 50000; $i++) {
    $tags = [];
    for ($k = 0; $k < $i % 5; $k++) $tags[] = 't' . (($i + $k) % 17);
    $items[] = new Item($i, sprintf('item-%06d', rnd() % 1000000), $tags);
}
usort($items, fn($a, $b) => [$a->name, $a->id] <=> [$b->name, $b->id]);
$json = json_encode(array_map(fn($o) => ['id' => $o->id, 'name' => $o->name, 'tags' => $o->tags], $items));
echo "json ", strlen($json), " ", hash('sha256', $json), "\n";
$back = json_decode($json, true);
echo "decoded ", count($back), " ", $back[0]['name'], "\n";

$ser = serialize($back);
echo "serialize ", strlen($ser), " ", md5($ser), " ", count(unserialize($ser)), "\n";

$z = gzcompress($json, 6);
echo "zlib ", strlen($z), " ", crc32(gzuncompress($z)) === crc32($json) ? "ok" : "bad", "\n";

$n = preg_match_all('/item-(\d{2})(\d+)/', $json, $m);
$r = preg_replace_callback('/"id":(\d+)/', fn($mm) => '"id":"' . dechex((int)$mm[1]) . '"', $json);
echo "preg $n ", strlen($r), " ", sha1($r), "\n";

$counts = [];
foreach ($items as $o) foreach ($o->tags as $t) $counts[$t] = ($counts[$t] ?? 0) + 1;
ksort($counts);
echo "tags ", count($counts), " ", implode(',', array_slice($counts, 0, 5)), "\n";

$s = '';
for ($i = 0; $i < 200000; $i++) $s .= chr(65 + $i % 26);
echo "string ", strlen($s), " ", crc32(strrev($s)), " ", substr_count($s, 'XYZ'), "\n";

$h = [];
for ($i = 0; $i < 100000; $i++) { $h["k" . (rnd() % 20000)][] = $i; }
ksort($h, SORT_STRING);
echo "hash ", count($h), " ", array_key_first($h), " ", count($h[array_key_first($h)]), "\n";
echo "done\n";
