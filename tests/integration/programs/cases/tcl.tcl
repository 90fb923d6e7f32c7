# tcl.tcl -- tclsh: lists, dicts, strings, regexp, procs, namespaces, binary and zlib (Tcl 8.6);
# prints checksums and counts that are the same on every correct run.
set x 12345
proc rnd {} { global x; set x [expr {($x * 1103515245 + 12345) % 2147483648}] }

set recs {}
for {set i 0} {$i < 40000} {incr i} {
    lappend recs [list [format "item-%06d" [expr {[rnd] % 1000000}]] $i [expr {[rnd] % 1000}]]
}
set sorted [lsort -index 0 $recs]
set s [join [lmap r $sorted {join $r :}] ,]
puts "records [string length $s] [zlib crc32 $s] [lindex $sorted 0 0]"

set d [dict create]
foreach r $recs { dict incr d [expr {[lindex $r 2] % 257}] [lindex $r 2] }
set total 0
dict for {k v} $d { incr total $v }
puts "dict [dict size $d] $total"

set n [regexp -all -inline {item-(\d\d)} $s]
set m [regsub -all {item-0*(\d+)} $s {<\1>} t]
puts "regexp [llength $n] $m [string length $t] [zlib crc32 $t]"

namespace eval acc {
    variable buf ""
    proc add {v} { variable buf; append buf $v ";" }
}
for {set i 0} {$i < 50000} {incr i} { acc::add [string repeat [expr {$i % 10}] [expr {$i % 9}]] }
puts "append [string length $acc::buf] [zlib crc32 $acc::buf]"

set bin [binary format i* [lmap r $recs {lindex $r 1}]]
set z [zlib deflate $bin 6]
puts "binary [string length $bin] [string length [zlib inflate $z]] [zlib adler32 $bin]"

set words [split [string map {, " " : " "} $s]]
set u [lsort -unique $words]
puts "words [llength $words] [llength $u] [string toupper [lindex $u end]]"
puts done
