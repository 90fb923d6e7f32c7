;; emacs.el -- GNU Emacs in batch mode (its own Lisp heap and GC over memory it gets from malloc;
;; it closes stderr at exit): a hash table of strings, a sorted list, a buffer of 20000 lines
;; searched with regexps, md5 of the buffer; prints their results.
(let ((h (make-hash-table :test 'equal)) (acc 0) (l nil))
  (dotimes (i 100000) (puthash (format "k%d" i) (make-string (% i 50) ?x) h))
  (dotimes (i 100000) (setq acc (+ acc (length (gethash (format "k%d" i) h)))))
  (dotimes (i 30000) (push (list i (number-to-string (* i i)) (vector i i)) l))
  (setq l (sort l (lambda (a b) (> (car a) (car b)))))
  (with-temp-buffer
    (dotimes (i 20000) (insert (format "line %d %s\n" i (md5 (number-to-string i)))))
    (goto-char (point-min))
    (let ((n 0))
      (while (re-search-forward "line \\([0-9]*7\\) \\([a-f0-9]\\{4\\}\\)" nil t) (setq n (1+ n)))
      (princ (format "%d %d %d %s\n" acc (length l) n (md5 (buffer-string))))))
  (garbage-collect)
  (clrhash h)
  (garbage-collect)
  (princ (format "%s %s %d\n" (car (nth 0 l)) (nth 1 (car (last l))) (hash-table-count h))))
