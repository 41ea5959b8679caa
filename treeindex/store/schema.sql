-- treeindex schema. Every table, view and column is described in docs/schema.md.
-- Applied by treeindex when it creates a database; all statements are idempotent.

-- Settings the index was built with (max_children, max_nodes, schema_version), and
-- terms_from: the first sentence id from which on sentences have search terms, nodes_from:
-- node blocks.
-- Ingesting with other settings into an existing index is refused.
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per corpus: a multi-sentence treebank file, or a directory of one-sentence files
-- (kind: which input format read it; treeindex checks the value, so a new format needs no
-- schema change).
-- The done_* columns are the resume point; they change in the same transaction as the rows
-- they account for, so an interrupted ingest always restarts exactly where it stopped.
CREATE TABLE IF NOT EXISTS corpora (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,              -- the input format: 'treebank', 'directory', ...
    source         TEXT NOT NULL,              -- absolute path of the file or directory
    fingerprint    TEXT NOT NULL,              -- identifies the input's content (see docs)
    input_bytes    INTEGER NOT NULL,           -- size of the input (compressed size for .gz)
    input_files    INTEGER NOT NULL DEFAULT 1, -- files in the corpus
    done_bytes     INTEGER NOT NULL DEFAULT 0, -- treebank: uncompressed offset indexed up to
    done_files     INTEGER NOT NULL DEFAULT 0, -- directory: files indexed, in natural order
    done_lines     INTEGER NOT NULL DEFAULT 0, -- treebank: newlines before done_bytes
    sentences      INTEGER NOT NULL DEFAULT 0, -- sentences indexed
    subtrees       INTEGER NOT NULL DEFAULT 0, -- subtrees indexed
    errors         INTEGER NOT NULL DEFAULT 0, -- malformed sentences recorded in errors
    positional_ids INTEGER NOT NULL DEFAULT 0, -- sentences that had no id and got '#<seq>'
    complete       INTEGER NOT NULL DEFAULT 0, -- 1 once the whole input is indexed
    started_at     TEXT,
    finished_at    TEXT
);

-- Every category seen in any corpus.
CREATE TABLE IF NOT EXISTS categories (
    cat TEXT PRIMARY KEY
);

-- Per corpus and category: subtree and sentence counts, maintained at ingest (never scanned).
CREATE TABLE IF NOT EXISTS corpus_categories (
    corpus_id INTEGER NOT NULL REFERENCES corpora(id),
    cat       TEXT NOT NULL REFERENCES categories(cat),
    subtrees  INTEGER NOT NULL,  -- kept subtrees of this category = highest number n
    sentences INTEGER NOT NULL,  -- sentences holding at least one of them
    PRIMARY KEY (corpus_id, cat)
) WITHOUT ROWID;

-- The children patterns: each kept subtree's children in order, as rel:cat (rel:pt for
-- words, rel:- for neither), space-separated, e.g. 'det:lid mod:adj hd:n'. Stored once each.
CREATE TABLE IF NOT EXISTS patterns (
    id      INTEGER PRIMARY KEY,
    pattern TEXT NOT NULL UNIQUE
);

-- One row per sentence, in document order (seq = 1, 2, ... within the corpus).
CREATE TABLE IF NOT EXISTS sentences (
    id        INTEGER PRIMARY KEY,
    corpus_id INTEGER NOT NULL REFERENCES corpora(id),
    seq       INTEGER NOT NULL,  -- position in the corpus, 1-based
    sentid    TEXT NOT NULL,     -- alpino_ds/@id, else sentence/@sentid, else file stem, else '#<seq>'
    file      TEXT,              -- directory corpora: the file, relative to the corpus directory
    offset    INTEGER,           -- treebank files: byte offset of <alpino_ds (uncompressed)
    first_subtree INTEGER NOT NULL, -- its subtrees have ids first_subtree .. + subtree_count - 1
    subtree_count INTEGER NOT NULL, -- kept subtrees in this sentence
    text      TEXT,              -- the plain sentence (<sentence> element)
    xml       BLOB NOT NULL      -- UTF-8 <alpino_ds>...</alpino_ds> as in the input, compressed:
                                 -- zstd with a dictionary of table dictionaries, or zlib
);
CREATE UNIQUE INDEX IF NOT EXISTS sentences_corpus_seq ON sentences (corpus_id, seq);

-- One row per kept subtree: a <node> with 1..max_children node children and at most
-- max_nodes nodes. n numbers the subtrees of one category within one corpus in document order.
CREATE TABLE IF NOT EXISTS subtrees (
    id          INTEGER PRIMARY KEY,
    corpus_id   INTEGER NOT NULL REFERENCES corpora(id),
    sentence_id INTEGER NOT NULL REFERENCES sentences(id),
    cat         TEXT NOT NULL,     -- node/@cat
    n           INTEGER NOT NULL,  -- number within (corpus, cat): the N in 'np-N'
    node        INTEGER NOT NULL,  -- pre-order position of the node among the sentence's nodes (0 = first)
    rel         TEXT,              -- node/@rel
    begin       INTEGER,           -- node/@begin: first word of the span (0-based)
    end         INTEGER,           -- node/@end: one past the last word of the span
    children    INTEGER NOT NULL,  -- direct node children
    nodes       INTEGER NOT NULL,  -- node elements in the subtree, itself included
    depth       INTEGER NOT NULL,  -- height: edges on the longest path down to a leaf
    level       INTEGER NOT NULL,  -- distance from the sentence's first node (0 = top)
    parent_cat  TEXT,              -- cat of the parent node (NULL for the top node)
    pattern_id  INTEGER NOT NULL REFERENCES patterns(id), -- the children's pattern
    xml_start   INTEGER NOT NULL,  -- byte span of the <node> element in the decompressed sentence xml
    xml_end     INTEGER NOT NULL
);

-- The zstd dictionaries the sentences are compressed with (id: the dictionary's own id, which
-- every zstd frame names); trained on a sample of the first input.
CREATE TABLE IF NOT EXISTS dictionaries (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);

-- The candidate index of `treeindex search`: for each sentence (rowid = sentences.id), the
-- terms of its nodes' attribute values ('cat0np', 'lemma0de', ...: treeindex/search/terms.py),
-- as an FTS5 index without content: `SELECT rowid FROM search_terms WHERE search_terms MATCH
-- 'lemma0de AND rel0det'` lists the sentences holding both. Written in the same transaction
-- as the sentences; settings.terms_from says from which sentence id on (older indexes:
-- `treeindex upgrade`).
CREATE VIRTUAL TABLE IF NOT EXISTS search_terms USING fts5(
    terms, content='', detail=none, columnsize=0, tokenize='ascii');

-- The node table of `treeindex search` (treeindex/search/nodestore.py): the elements of the
-- sentences first_sentence .. first_sentence + sentences - 1 (ids, all of one corpus) as
-- columns (parent, size, and one column per attribute into its vocabulary), zstd-compressed
-- section by section. XPath is evaluated on these, not on the XML. Written in the same
-- transaction as the sentences; settings.nodes_from says from which sentence id on (older
-- indexes: `treeindex upgrade`).
CREATE TABLE IF NOT EXISTS node_blocks (
    id             INTEGER PRIMARY KEY,
    corpus_id      INTEGER NOT NULL REFERENCES corpora(id),
    first_sentence INTEGER NOT NULL,  -- sentences.id of the block's first sentence
    sentences      INTEGER NOT NULL,  -- how many sentences (consecutive ids) it holds
    data           BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS node_blocks_corpus ON node_blocks (corpus_id, first_sentence);

-- The node table's summary (treeindex/search/summary.py): every attribute name its elements
-- have, and per name the values that hold an ASCII capital (open = 1: more than 1,000 of
-- them, not all listed), which the notes on a query's mistakes look up instead of reading
-- every block. Written in the same transaction as the blocks; settings.values_from: the
-- first node_blocks id it covers (older indexes: `treeindex upgrade`).
CREATE TABLE IF NOT EXISTS node_names (
    name TEXT PRIMARY KEY,
    open INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_values (
    name  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, value)
) WITHOUT ROWID;

-- Malformed sentences (and files) that were skipped, with where they are and why.
CREATE TABLE IF NOT EXISTS errors (
    id        INTEGER PRIMARY KEY,
    corpus_id INTEGER NOT NULL REFERENCES corpora(id),
    file      TEXT,     -- the file (relative to a directory corpus, or the treebank file's name)
    offset    INTEGER,  -- byte offset of the sentence in the (uncompressed) file
    line      INTEGER,  -- line of the error in the file, 1-based
    sentid    TEXT,     -- the sentence id, when it could be read
    message   TEXT NOT NULL
);

-- Subtrees with names instead of ids: what most queries want.
CREATE VIEW IF NOT EXISTS subtree_info AS
    SELECT t.id, c.name AS corpus, s.sentid, t.cat, t.n, t.cat || '-' || t.n AS label,
           t.rel, t.begin, t.end, t.children, t.nodes, t.depth, t.level, t.parent_cat,
           p.pattern, t.sentence_id, t.node
    FROM subtrees AS t
    JOIN corpora AS c ON c.id = t.corpus_id
    JOIN sentences AS s ON s.id = t.sentence_id
    JOIN patterns AS p ON p.id = t.pattern_id;

-- Subtree and sentence counts per corpus and category.
CREATE VIEW IF NOT EXISTS category_counts AS
    SELECT corpora.name AS corpus, cc.cat AS cat, cc.subtrees AS subtrees, cc.sentences AS sentences
    FROM corpus_categories AS cc JOIN corpora ON corpora.id = cc.corpus_id;

-- Per corpus totals and state.
CREATE VIEW IF NOT EXISTS corpus_totals AS
    SELECT name AS corpus, kind, sentences, subtrees, errors,
           CASE WHEN complete THEN 'complete' ELSE 'in progress' END AS state,
           source, started_at, finished_at
    FROM corpora;

-- The indexes built when an ingest finishes are in indexes.sql beside this file.
