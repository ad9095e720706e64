-- Reference tables on a worker that joins later: canopy_add_node gives it a placement of every
-- reference table, created from the shell's definition (indexes, grants, foreign keys to other
-- reference tables), filled with the rows of an existing placement and recorded in
-- pg_dist_placement, all in its own transaction. Shards of distributed tables placed there later
-- join the reference tables at once. canopy_activate_node does the same for the reference tables
-- created while the worker was inactive. Worker rows are read through the shard ids in \gset
-- variables, which the output does not show.
CREATE TABLE ref_kinds (kind text PRIMARY KEY, label text);
CREATE TABLE ref_labels (kind text, lang text, label text);
INSERT INTO ref_kinds VALUES ('a', 'A'), ('b', 'B');
INSERT INTO ref_labels VALUES ('a', 'en', 'apple'), ('b', 'en', 'banana'), ('b', 'fr', 'banane');
SELECT create_reference_table('ref_kinds');
SELECT create_reference_table('ref_labels');
ALTER TABLE ref_labels ADD CONSTRAINT ref_labels_kind FOREIGN KEY (kind) REFERENCES ref_kinds ON DELETE CASCADE;
CREATE INDEX ref_labels_lang ON ref_labels (lang);
SELECT shardid AS kinds_shard FROM pg_dist_shard WHERE logicalrelid = 'ref_kinds'::regclass \gset
SELECT shardid AS labels_shard FROM pg_dist_shard WHERE logicalrelid = 'ref_labels'::regclass \gset

-- The worker leaves, and the tables change while it is away: its old copies are stale.
CREATE TEMP TABLE ref_gone AS SELECT max(nodeport) AS port FROM pg_dist_node;
SELECT canopy_remove_node('localhost', (SELECT port FROM ref_gone));
INSERT INTO ref_kinds VALUES ('c', 'C');
INSERT INTO ref_labels VALUES ('c', 'en', 'cherry');
UPDATE ref_kinds SET label = 'Apple' WHERE kind = 'a';
SELECT table_name, nodeport FROM canopy_shards WHERE table_name IN ('ref_kinds'::regclass, 'ref_labels'::regclass) ORDER BY 1, 2;

-- Added back: within a block that rolls back, nothing stays.
BEGIN;
SELECT 1 FROM canopy_add_node('localhost', (SELECT port FROM ref_gone));
SELECT count(*) FROM canopy_shards WHERE table_name IN ('ref_kinds'::regclass, 'ref_labels'::regclass);
ROLLBACK;
SELECT count(*) FROM canopy_shards WHERE table_name IN ('ref_kinds'::regclass, 'ref_labels'::regclass);
SELECT 1 FROM canopy_add_node('localhost', (SELECT port FROM ref_gone));
SELECT table_name, nodeport FROM canopy_shards WHERE table_name IN ('ref_kinds'::regclass, 'ref_labels'::regclass) ORDER BY 1, 2;
-- Every placement has the same rows, indexes and foreign key.
SELECT result FROM run_command_on_workers(format($$SELECT string_agg(kind || '=' || label, ',' ORDER BY kind) FROM ref_kinds_%s$$, :kinds_shard)) ORDER BY nodeport;
SELECT result FROM run_command_on_workers(format($$SELECT string_agg(kind || '/' || lang || '=' || label, ',' ORDER BY kind, lang) FROM ref_labels_%s$$, :labels_shard)) ORDER BY nodeport;
SELECT result FROM run_command_on_workers($$SELECT string_agg(regexp_replace(c.relname, '_[0-9]+$', ''), ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname ~ '^ref_'$$) ORDER BY nodeport;
SELECT result FROM run_command_on_workers($$SELECT string_agg(regexp_replace(conname, '_[0-9]+$', '') || ' ' || regexp_replace(pg_get_constraintdef(oid), '_[0-9]+', '', 'g'), ', ' ORDER BY conname) FROM pg_constraint WHERE conrelid::regclass::text ~ '^ref_labels_'$$) ORDER BY nodeport;

-- A distributed table created now has shards on the added worker, and joins with the reference
-- tables there, pushed down and routed to one shard alike.
CREATE TABLE ref_orders (id int, kind text);
SELECT create_distributed_table('ref_orders', 'id', shard_count => 4);
INSERT INTO ref_orders SELECT g, CASE g % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' ELSE 'c' END FROM generate_series(1, 12) g;
SELECT nodeport, count(*) FROM canopy_shards WHERE table_name = 'ref_orders'::regclass GROUP BY 1 ORDER BY 1;
SELECT o.kind, count(*), min(k.label) AS label, string_agg(l.label, ',' ORDER BY l.label) FILTER (WHERE o.id < 7) AS labels
  FROM ref_orders o JOIN ref_kinds k USING (kind) JOIN ref_labels l USING (kind) GROUP BY 1 ORDER BY 1;
SELECT id, k.label FROM ref_orders o JOIN ref_kinds k USING (kind) WHERE id = 1;
SELECT id, k.label FROM ref_orders o JOIN ref_kinds k USING (kind) WHERE id = 2;
SELECT id, k.label FROM ref_orders o JOIN ref_kinds k USING (kind) WHERE id = 3;
SELECT id, k.label FROM ref_orders o JOIN ref_kinds k USING (kind) WHERE id = 4;
SELECT count(*) FROM ref_orders o WHERE EXISTS (SELECT 1 FROM ref_labels l WHERE l.kind = o.kind AND l.lang = 'fr');
-- Writes reach the new placement too, cascades included.
DELETE FROM ref_kinds WHERE kind = 'b';
SELECT result FROM run_command_on_workers(format($$SELECT string_agg(kind || '/' || lang, ',' ORDER BY kind, lang) FROM ref_labels_%s$$, :labels_shard)) ORDER BY nodeport;

-- Disabled, then activated: a reference table created meanwhile gets its placement there.
SELECT canopy_disable_node('localhost', (SELECT port FROM ref_gone));
CREATE TABLE ref_late (x int);
INSERT INTO ref_late VALUES (1), (2);
SELECT create_reference_table('ref_late');
SELECT shardid AS late_shard FROM pg_dist_shard WHERE logicalrelid = 'ref_late'::regclass \gset
SELECT count(*) FROM canopy_shards WHERE table_name = 'ref_late'::regclass;
SELECT canopy_activate_node('localhost', (SELECT port FROM ref_gone)) > 0 AS activated;
SELECT count(*) FROM canopy_shards WHERE table_name = 'ref_late'::regclass;
SELECT result FROM run_command_on_workers(format($$SELECT sum(x) FROM ref_late_%s$$, :late_shard)) ORDER BY nodeport;
SELECT canopy_activate_node('localhost', (SELECT port FROM ref_gone)) > 0 AS activated_again;
SELECT count(*) FROM canopy_shards WHERE table_name = 'ref_late'::regclass;
DROP TABLE ref_orders, ref_labels, ref_kinds, ref_late;
SELECT count(*) FROM pg_dist_placement;
