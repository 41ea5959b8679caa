-- treeindex: the indexes built when an ingest finishes (a sorted bulk build costs a fraction
-- of maintaining them row by row); once they exist, later ingests maintain them. Until then,
-- filters on cat and pattern, and lookups by sentence id, scan. See docs/schema.md.
CREATE UNIQUE INDEX IF NOT EXISTS subtrees_corpus_cat_n ON subtrees (corpus_id, cat, n);
CREATE INDEX IF NOT EXISTS subtrees_pattern ON subtrees (pattern_id, cat);
CREATE INDEX IF NOT EXISTS sentences_sentid ON sentences (sentid);
