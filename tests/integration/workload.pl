#!/usr/bin/perl
# An allocation-heavy, deterministic Perl workload: hashes, arrays, strings, references, cycles
# broken by hand, sort, regexes, sprintf. Prints an MD5 digest of what it computed.
use strict;
use warnings;
use Digest::MD5;

my $n = int(($ARGV[0] // 1) * 150_000);
my $md5 = Digest::MD5->new;
my $x = 42;
sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; return $x >> 4; }

# Hash of arrays of strings, with deletions.
my %h;
for my $i (1 .. $n) {
    my $k = "key" . (rnd() % ($n / 3));
    push @{ $h{$k} }, sprintf("%08x-%s", $i, "v" x ($i % 17));
    delete $h{"key" . (rnd() % ($n / 3))} if $i % 5 == 0;
}
$md5->add(scalar(keys %h));
for my $k (sort keys %h) { $md5->add($k, join(",", @{ $h{$k} })); }

# Nested structures with self-references (cycles), then broken and dropped.
my @trees;
for my $t (1 .. $n / 50) {
    my $node = { id => $t, kids => [] };
    for my $c (1 .. 20) {
        my $kid = { id => "$t.$c", parent => $node, data => [ map { $_ * $c } 1 .. 5 ] };
        push @{ $node->{kids} }, $kid;
    }
    push @trees, $node;
}
my $sum = 0;
for my $t (@trees) { $sum += $_->{data}[4] for @{ $t->{kids} }; }
$md5->add("trees $sum");
for my $t (@trees) { delete $_->{parent} for @{ $t->{kids} }; }
@trees = ();

# Strings: build a large one, split, regex, join, reverse, substr.
my $text = join " ", map { "w" . (rnd() % 4000) } 1 .. $n;
my @w = split / /, $text;
my %count;
$count{$_}++ for @w;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9];
$md5->add(join ",", map { "$_=$count{$_}" } @top);
(my $t2 = $text) =~ s/w(\d+)/<$1>/g;
$md5->add(length($t2), substr($t2, 1000, 200), scalar reverse(substr($text, -500)));

# Array churn: numeric sort of a big array, splice, grep, map.
my @a = map { rnd() % 1000000 } 1 .. $n;
@a = sort { $a <=> $b } @a;
splice(@a, 100, 1000);
my @even = grep { $_ % 2 == 0 } @a;
$md5->add(scalar(@a), scalar(@even), $a[0], $a[-1], join(",", @a[0 .. 20]));

print "perl workload n=$n digest ", $md5->hexdigest, "\n";
