# perl.pl -- perl: hashes, arrays, regexes, sort, sprintf, pack, Digest::MD5, Storable and fork;
# prints checksums and counts that are the same on every correct run.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use Storable qw(freeze thaw);

my $x = 12345;
sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; return $x }

my @recs = map { { id => $_, name => sprintf("item-%06d", rnd() % 1000000), w => rnd() % 1000 } } 0 .. 59999;
@recs = sort { $a->{name} cmp $b->{name} or $a->{id} <=> $b->{id} } @recs;
my $s = join ",", map { "$_->{name}:$_->{w}" } @recs;
print "records ", length($s), " ", md5_hex($s), " $recs[0]{name}\n";

my %freq;
$freq{$1}++ while $s =~ /item-(\d\d\d)/g;
my @top = (sort { $freq{$b} <=> $freq{$a} or $a cmp $b } keys %freq)[0 .. 2];
print "regex ", scalar(keys %freq), " @top\n";
(my $t = $s) =~ s/(\d)(\d)/$2$1/g;
print "subst ", length($t), " ", md5_hex($t), "\n";

my $frozen = freeze(\@recs);
my $thawed = thaw($frozen);
print "storable ", scalar(@$thawed), " $thawed->[-1]{name}\n";

my $packed = pack("N*", map { $_->{w} } @recs);
print "pack ", length($packed), " ", unpack("%32N*", $packed), "\n";

my $acc = "";
$acc .= chr(65 + $_ % 26) x ($_ % 5) for 1 .. 200000;
print "append ", length($acc), " ", md5_hex($acc), "\n";

pipe(my $rd, my $wr) or die;
my $pid = fork() // die;
if ($pid == 0) {
    close $rd;
    my %h = map { uc($_->{name}) => $_->{w} } @recs;
    print $wr scalar(keys %h), " ", md5_hex(join "", sort keys %h);
    close $wr;
    exit 0;
}
close $wr;
my $msg = do { local $/; <$rd> };
waitpid($pid, 0);
print "fork $msg ", $? >> 8, "\n";
print "done\n";
