-- sqlite.sql -- sqlite3: tables of a few thousand rows made by recursive CTEs, indexes, joins,
-- aggregates, a view, a transaction with updates and deletes, VACUUM and an integrity check.
PRAGMA journal_mode = WAL;
CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
CREATE TABLE product (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price INTEGER NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customer(id),
                     product INTEGER REFERENCES product(id), qty INTEGER, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO customer SELECT i, 'customer ' || printf('%05d', (i * 7919) % 5000), 'city' || (i % 37) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 800)
INSERT INTO product SELECT i, 'product ' || hex(i * 31337), 100 + (i * 37) % 9000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
INSERT INTO orders SELECT i, 1 + (i * 2654435761) % 5000, 1 + (i * 40503) % 800, 1 + i % 9,
                          substr('lorem ipsum dolor sit amet consectetur', 1 + i % 20, 5 + i % 17) FROM n;
CREATE INDEX orders_customer ON orders (customer);
CREATE INDEX orders_product ON orders (product, qty);
CREATE INDEX customer_city ON customer (city, name);
CREATE VIEW revenue AS
  SELECT c.city AS city, p.id AS product, sum(o.qty * p.price) AS total, count(*) AS n
  FROM orders o JOIN customer c ON c.id = o.customer JOIN product p ON p.id = o.product
  GROUP BY c.city, p.id;
SELECT count(*), sum(total), max(total) FROM revenue;
SELECT city, sum(total) AS t FROM revenue GROUP BY city ORDER BY t DESC, city LIMIT 5;
SELECT c.name, count(o.id), group_concat(DISTINCT o.qty) FROM customer c
  LEFT JOIN orders o ON o.customer = c.id WHERE c.city = 'city7' GROUP BY c.id ORDER BY c.name LIMIT 5;
SELECT p.title, sum(o.qty) AS q FROM product p JOIN orders o ON o.product = p.id
  WHERE o.qty > 5 GROUP BY p.id ORDER BY q DESC, p.title LIMIT 5;
BEGIN;
UPDATE orders SET qty = qty * 2, note = upper(note) WHERE id % 3 = 0;
DELETE FROM orders WHERE id % 11 = 0;
INSERT INTO orders (customer, product, qty, note)
  SELECT customer, product, qty + 1, note || '!' FROM orders WHERE id % 7 = 0;
COMMIT;
SELECT count(*), sum(qty), count(DISTINCT note), max(length(note)) FROM orders;
SELECT o.id, c.name, p.title FROM orders o, customer c, product p
  WHERE c.id = o.customer AND p.id = o.product AND o.id IN (5, 500, 5000, 39999) ORDER BY o.id;
VACUUM;
PRAGMA integrity_check;
