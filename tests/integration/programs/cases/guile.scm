;; guile.scm -- Guile 3, a Scheme whose own heap is Boehm GC's (mmap'd, outside cowgc's), holding
;; pointers to blocks that Guile and its libraries get from malloc: binary trees, a hash table of
;; strings, sorts, string ports, bignums; prints their results.
(use-modules (srfi srfi-1) (ice-9 format))
(define (make-tree d) (if (= d 0) '() (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (count t) (if (null? t) 1 (+ (count (car t)) (count (cdr t)))))
(define h (make-hash-table))
(do ((i 0 (+ i 1))) ((= i 100000)) (hash-set! h i (number->string (* i 7919))))
(define total 0)
(do ((i 0 (+ i 1))) ((= i 20)) (set! total (+ total (count (make-tree 13)))))
(format #t "trees ~a\n" total)
(format #t "lookup ~a\n" (hash-ref h 12345))
(format #t "lengths ~a\n" (fold + 0 (map (lambda (k) (string-length (hash-ref h k))) (iota 100000))))
(format #t "sorted ~a\n" (list-head (sort (map (lambda (i) (modulo (* i 31) 1000)) (iota 50000)) <) 5))
(format #t "keys ~a\n" (list-head (sort (hash-map->list (lambda (k v) k) h) <) 5))
(define s (call-with-output-string
           (lambda (p) (do ((i 0 (+ i 1))) ((= i 20000)) (format p "~a:~a;" i (* i i))))))
(format #t "string ~a ~a\n" (string-length s) (string-take (string-reverse s) 24))
(format #t "bignum ~a\n" (modulo (expt 7 5000) 1000000007))
(format #t "chars ~a\n" (length (string-split (string-join (map number->string (iota 30000)) ",") #\,)))
(gc)
(format #t "after gc ~a\n" (hash-count (const #t) h))
