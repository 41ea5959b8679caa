/* A task's packed image (store/packed.py), written page by page: an SQLite database file
 * made here without SQLite. The rows are encoded as SQLite records as they come (the
 * worker's scanner adds its subtree rows through a capsule, _pack.h, without a Python tuple
 * per row), and `serialize` lays them out in table b-trees. The image holds the same
 * tables, rows, values, SQLite types and order as packed.pack makes through SQLite; tests
 * compare the two and run SQLite's integrity check on it.
 *
 * Why not SQLite itself: inserting the rows into an in-memory database (statements, the
 * virtual machine, b-tree balancing) was about an eighth of a worker's time, for a
 * database the writer only reads once, in order.
 *
 * Packer(s_sql, t_sql, p_sql, fail_after=-1): the three tables' CREATE TABLE statements,
 * as sqlite_schema holds them (store/packed.py's TABLES): s (rowid + 8 columns), t (rowid
 * + 15) and p (an explicit rowid + a TEXT column). Their root pages are 2, 3 and 4, as
 * SQLite gives them when it creates the three tables in that order: the writer attaches
 * image after image under one name, and SQLite keeps the schema it read from the first
 * (same cookie), so every image must have its tables where SQLite's have them.
 * fail_after: for tests, the packer fails as a failed insert would once that many subtree
 * rows are in (how a failure in the middle of a sentence is handled).
 *
 * The file format: https://www.sqlite.org/fileformat2.html
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "_pack.h"

/* 16 KiB pages: the smallest images of 4, 16 and 64 KiB (13.2 MB for 25 MB of input,
 * against 14.4 and 15.0: the last page of each table is mostly empty), as fast; a record
 * spills to overflow pages only past 16,349 bytes */
#ifndef PAGE
#define PAGE 16384
#endif
#define MAX_LOCAL (PAGE - 35)
#define MIN_LOCAL (((PAGE - 12) * 32 / 255) - 23)
#define OVERFLOW_DATA (PAGE - 4)
#define SCHEMA_COOKIE 3  /* as SQLite leaves it after creating three tables */

enum { T_SENTENCE = 0, T_SUBTREE = 1, T_PATTERN = 2, TABLES = 3 };
static const int COLUMNS[TABLES] = {8, PACK_SUBTREE_COLUMNS, 2};  /* besides the rowid */

typedef struct { unsigned char *buf; Py_ssize_t len, cap; } Buf;

static int grow(Buf *b, Py_ssize_t more) {
    if (b->len + more <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more) cap *= 2;
    unsigned char *nb = PyMem_Realloc(b->buf, cap);
    if (!nb) { PyErr_NoMemory(); return -1; }
    b->buf = nb;
    b->cap = cap;
    return 0;
}

typedef struct { long long rowid; Py_ssize_t offset, length; } Row;

typedef struct {
    Buf records;  /* each row's record (its payload), back to back */
    Row *rows;
    Py_ssize_t n, cap;
    long long max_rowid;
} Table;

typedef struct {
    PyObject_HEAD
    int open, broken;
    Py_ssize_t subtrees, fail_after;
    Table tables[TABLES];
    PyObject *sql[TABLES];  /* str */
} Packer;

/* a value as SQLite stores it */
typedef struct { int type; long long i; double d; const char *p; Py_ssize_t n; } Val;
enum { V_NULL, V_INT, V_REAL, V_TEXT, V_BLOB };

static int varint_len(unsigned long long v) {
    int n = 1;
    if (v > 0x00ffffffffffffffULL) return 9;
    while (v > 0x7f) { v >>= 7; n++; }
    return n;
}

static int put_varint(unsigned char *p, unsigned long long v) {
    if (v > 0x00ffffffffffffffULL) {  /* nine bytes: the last holds eight bits */
        p[8] = (unsigned char)v;
        v >>= 8;
        for (int k = 7; k >= 0; k--) { p[k] = (unsigned char)((v & 0x7f) | 0x80); v >>= 7; }
        return 9;
    }
    unsigned char tmp[10];
    int n = 0;
    do { tmp[n++] = (unsigned char)((v & 0x7f) | 0x80); v >>= 7; } while (v);
    tmp[0] &= 0x7f;
    for (int k = 0; k < n; k++) p[k] = tmp[n - 1 - k];
    return n;
}

/* SQLite's serial type of a value and the length of its body */
static unsigned long long serial_type(const Val *v, Py_ssize_t *len) {
    switch (v->type) {
    case V_NULL: *len = 0; return 0;
    case V_REAL: *len = 8; return 7;
    case V_TEXT: *len = v->n; return (unsigned long long)v->n * 2 + 13;
    case V_BLOB: *len = v->n; return (unsigned long long)v->n * 2 + 12;
    }
    long long i = v->i;
    unsigned long long u = i < 0 ? ~(unsigned long long)i : (unsigned long long)i;
    if (u <= 127) {
        if ((i & 1) == i) { *len = 0; return 8 + (unsigned long long)i; }  /* 0, 1 */
        *len = 1; return 1;
    }
    if (u <= 32767) { *len = 2; return 2; }
    if (u <= 8388607) { *len = 3; return 3; }
    if (u <= 2147483647) { *len = 4; return 4; }
    if (u <= 0x7fffffffffffULL) { *len = 6; return 5; }
    *len = 8; return 6;
}

static void put_be(unsigned char *p, unsigned long long v, int n) {
    for (int k = n - 1; k >= 0; k--) { p[k] = (unsigned char)v; v >>= 8; }
}

/* append one record: with `alias`, a NULL first for the rowid's column (an INTEGER
 * PRIMARY KEY is stored as the row's key, not in its record), then the values */
static int add_record(Table *t, long long rowid, const Val *vals, int n, int alias) {
    unsigned long long types[PACK_SUBTREE_COLUMNS + 1];
    Py_ssize_t lens[PACK_SUBTREE_COLUMNS + 1];
    Py_ssize_t header = 0, body = 0;
    int m = n + (alias ? 1 : 0);
    for (int c = 0; c < m; c++) {
        if (alias && c == 0) { types[0] = 0; lens[0] = 0; header += 1; continue; }
        types[c] = serial_type(&vals[c - (alias ? 1 : 0)], &lens[c]);
        header += varint_len(types[c]);
        body += lens[c];
    }
    Py_ssize_t size = header + 1;  /* the header's own length, itself a varint */
    while (varint_len((unsigned long long)size) + header != size)
        size = varint_len((unsigned long long)size) + header;
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap ? t->cap * 2 : 1024;
        Row *nr = PyMem_Realloc(t->rows, cap * sizeof(Row));
        if (!nr) { PyErr_NoMemory(); return -1; }
        t->rows = nr;
        t->cap = cap;
    }
    if (grow(&t->records, size + body) < 0) return -1;
    unsigned char *p = t->records.buf + t->records.len;
    Py_ssize_t o = put_varint(p, (unsigned long long)size);
    for (int c = 0; c < m; c++) o += put_varint(p + o, types[c]);
    for (int c = alias ? 1 : 0; c < m; c++) {
        const Val *v = &vals[c - (alias ? 1 : 0)];
        if (v->type == V_INT) put_be(p + o, (unsigned long long)v->i, (int)lens[c]);
        else if (v->type == V_REAL) {
            unsigned long long bits;
            memcpy(&bits, &v->d, 8);
            put_be(p + o, bits, 8);
        } else if (v->type == V_TEXT || v->type == V_BLOB) {
            if (v->n) memcpy(p + o, v->p, v->n);
        }
        o += lens[c];
    }
    t->rows[t->n].rowid = rowid;
    t->rows[t->n].offset = t->records.len;
    t->rows[t->n].length = o;
    t->n++;
    t->records.len += o;
    if (rowid > t->max_rowid) t->max_rowid = rowid;
    return 0;
}

static PyObject *failed(Packer *p, const char *why) {
    p->broken = 1;
    PyErr_Format(PyExc_RuntimeError, "packing the rows failed: %s", why);
    return NULL;
}

/* a Python value as Python's sqlite3 module binds it: None, int, float, str, bytes */
static int value_of(PyObject *o, Val *v) {
    if (o == Py_None) {
        v->type = V_NULL;
    } else if (PyLong_Check(o)) {
        v->type = V_INT;
        v->i = PyLong_AsLongLong(o);
        if (v->i == -1 && PyErr_Occurred()) {
            PyErr_SetString(PyExc_OverflowError,
                            "Python int too large to convert to SQLite INTEGER");
            return -1;
        }
    } else if (PyUnicode_Check(o)) {
        v->type = V_TEXT;
        v->p = PyUnicode_AsUTF8AndSize(o, &v->n);
        if (!v->p) return -1;
    } else if (PyBytes_Check(o)) {
        v->type = V_BLOB;
        v->p = PyBytes_AS_STRING(o);
        v->n = PyBytes_GET_SIZE(o);
    } else if (PyFloat_Check(o)) {
        v->type = V_REAL;
        v->d = PyFloat_AS_DOUBLE(o);
    } else {
        PyErr_Format(PyExc_TypeError, "cannot pack a value of type %s", Py_TYPE(o)->tp_name);
        return -1;
    }
    return 0;
}

static int usable(Packer *p) {
    if (!p->open) {
        PyErr_SetString(PyExc_ValueError, "the packer is closed");
        return 0;
    }
    if (p->broken) {
        PyErr_SetString(PyExc_RuntimeError, "packing the rows failed earlier");
        return 0;
    }
    return 1;
}

static int subtree_added(Packer *p) {
    p->subtrees++;
    if (p->fail_after >= 0 && p->subtrees >= p->fail_after) {
        failed(p, "fail_after reached (a test's failure)");
        return -1;
    }
    return 0;
}

/* the C interface: one subtree row from the scanner */
static int add_subtree(PyObject *self, const PackValue *pv) {
    Packer *p = (Packer *)self;
    if (!usable(p)) return -1;
    Val vals[PACK_SUBTREE_COLUMNS];
    for (int c = 0; c < PACK_SUBTREE_COLUMNS; c++) {
        if (pv[c].kind == PACK_NULL) vals[c].type = V_NULL;
        else if (pv[c].kind == PACK_INT) { vals[c].type = V_INT; vals[c].i = pv[c].i; }
        else if (value_of(pv[c].o, &vals[c]) < 0) { p->broken = 1; return -1; }
    }
    Table *t = &p->tables[T_SUBTREE];
    if (add_record(t, t->max_rowid + 1, vals, PACK_SUBTREE_COLUMNS, 1) < 0) {
        p->broken = 1;
        return -1;
    }
    return subtree_added(p);
}

/* rows of one table from Python: an iterable of tuples */
static PyObject *add_rows(Packer *p, int table, PyObject *rows) {
    if (!usable(p)) return NULL;
    Table *t = &p->tables[table];
    PyObject *it = PyObject_GetIter(rows);
    if (!it) return NULL;
    PyObject *row;
    while ((row = PyIter_Next(it))) {
        PyObject *seq = PySequence_Fast(row, "a row must be a tuple");
        Py_DECREF(row);
        if (!seq) goto fail;
        Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
        if (m != COLUMNS[table]) {
            PyErr_Format(PyExc_ValueError, "a row of %zd values, not %d", m, COLUMNS[table]);
            Py_DECREF(seq);
            goto fail;
        }
        PyObject **items = PySequence_Fast_ITEMS(seq);
        Val vals[PACK_SUBTREE_COLUMNS];
        long long rowid = t->max_rowid + 1;
        int first = 0, rc = 0;
        if (table == T_PATTERN) {  /* (i INTEGER PRIMARY KEY, pattern TEXT) */
            first = 1;
            if (items[0] != Py_None) {
                Val key;
                rc = value_of(items[0], &key);
                if (rc == 0 && key.type != V_INT) {
                    PyErr_SetString(PyExc_TypeError, "a pattern's number must be an int");
                    rc = -1;
                }
                rowid = key.i;
            }
            if (rc == 0 && items[1] != Py_None && !PyUnicode_Check(items[1])) {
                PyErr_SetString(PyExc_TypeError, "a pattern must be a str");
                rc = -1;
            }
        }
        for (int c = first; rc == 0 && c < m; c++) rc = value_of(items[c], &vals[c - first]);
        if (rc == 0) rc = add_record(t, rowid, vals, (int)m - first, 1);
        Py_DECREF(seq);
        if (rc < 0) goto fail;
        if (table == T_SUBTREE && subtree_added(p) < 0) goto fail;
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) { p->broken = 1; return NULL; }
    Py_RETURN_NONE;
fail:
    p->broken = 1;  /* (some rows may be in: the image is never made) */
    Py_DECREF(it);
    return NULL;
}

static PyObject *Packer_subtrees(PyObject *self, PyObject *rows) {
    return add_rows((Packer *)self, T_SUBTREE, rows);
}

static PyObject *Packer_sentences(PyObject *self, PyObject *rows) {
    return add_rows((Packer *)self, T_SENTENCE, rows);
}

static PyObject *Packer_patterns(PyObject *self, PyObject *rows) {
    return add_rows((Packer *)self, T_PATTERN, rows);
}

/* --- the layout: which rows go on which page, and the pages' numbers --- */

/* a page of a table's b-tree: its rows (a leaf) or its children (`below`, the level under
 * it: an interior page), from `first`, `count` of them; its number; its largest key */
typedef struct Node {
    Py_ssize_t first, count;
    uint32_t page;
    long long key;
    const struct Node *below;
} Node;

typedef struct {
    Node *leaves, *inner;  /* the leaves; the interior pages, level by level upwards */
    Py_ssize_t nleaves, ninner;
    uint32_t *overflow;  /* each row's first overflow page (0: none) */
    uint32_t root;
} Tree;

/* how much of a payload of `n` bytes stays on its leaf */
static Py_ssize_t local_part(Py_ssize_t n) {
    if (n <= MAX_LOCAL) return n;
    Py_ssize_t k = MIN_LOCAL + (n - MIN_LOCAL) % OVERFLOW_DATA;
    return k <= MAX_LOCAL ? k : MIN_LOCAL;
}

static Py_ssize_t cell_size(const Row *r) {
    Py_ssize_t local = local_part(r->length);
    Py_ssize_t n = varint_len((unsigned long long)r->length) +
                   varint_len((unsigned long long)r->rowid) + local +
                   (local < r->length ? 4 : 0);
    return n < 4 ? 4 : n;
}

static Py_ssize_t overflow_pages(const Row *r) {
    Py_ssize_t rest = r->length - local_part(r->length);
    return (rest + OVERFLOW_DATA - 1) / OVERFLOW_DATA;
}

static void free_tree(Tree *t) {
    PyMem_Free(t->leaves);
    PyMem_Free(t->inner);
    PyMem_Free(t->overflow);
    memset(t, 0, sizeof(Tree));
}

/* cut the rows into leaves and the leaves into interior pages; number every page (the
 * top one is `root`) from *next on */
static int lay_out(const Table *tb, Tree *t, uint32_t root, uint32_t *next) {
    memset(t, 0, sizeof(Tree));
    t->root = root;
    Py_ssize_t n = tb->n;
    t->leaves = PyMem_Malloc((n + 1) * sizeof(Node));
    t->overflow = PyMem_Calloc(n + 1, sizeof(uint32_t));
    /* every interior page holds two children at least: fewer interior than leaf pages */
    t->inner = PyMem_Malloc((n + 1) * sizeof(Node));
    if (!t->leaves || !t->overflow || !t->inner) { free_tree(t); PyErr_NoMemory(); return -1; }
    Py_ssize_t room = PAGE - 8, used = 0;
    Node *cur = &t->leaves[0];
    cur->first = 0;
    cur->count = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t need = cell_size(&tb->rows[k]) + 2;
        if (cur->count && used + need > room) {
            cur = &t->leaves[++t->nleaves];
            cur->first = k;
            cur->count = 0;
            used = 0;
        }
        cur->count++;
        cur->key = tb->rows[k].rowid;
        used += need;
    }
    t->nleaves++;
    if (n == 0) t->leaves[0].key = 0;
    /* the levels above, each from the one below, the children spread evenly over as few
     * pages as hold them (a cell at most 4 + 9 bytes and its 2-byte pointer; the
     * right-most child needs no cell) */
    const Py_ssize_t fits = (PAGE - 12) / (4 + 9 + 2) + 1;
    Node *level = t->leaves;
    Py_ssize_t count = t->nleaves;
    while (count > 1) {
        Node *up = &t->inner[t->ninner];
        Py_ssize_t pages = (count + fits - 1) / fits, k = 0;
        for (Py_ssize_t g = 0; g < pages; g++) {
            up[g].first = k;
            up[g].count = count / pages + (g < count % pages ? 1 : 0);
            up[g].below = level;
            k += up[g].count;
            up[g].key = level[k - 1].key;
        }
        t->ninner += pages;
        level = up;
        count = pages;
    }
    /* numbers: the top page is the root; the others in order, each leaf then its rows'
     * overflow pages */
    Node *top = t->ninner ? &t->inner[t->ninner - 1] : &t->leaves[0];
    for (Py_ssize_t l = 0; l < t->nleaves; l++) {
        Node *leaf = &t->leaves[l];
        leaf->page = leaf == top ? root : (*next)++;
        for (Py_ssize_t k = leaf->first; k < leaf->first + leaf->count; k++) {
            Py_ssize_t pages = overflow_pages(&tb->rows[k]);
            if (pages) {
                t->overflow[k] = *next;
                *next += (uint32_t)pages;
            }
        }
    }
    for (Py_ssize_t g = 0; g < t->ninner; g++)
        t->inner[g].page = &t->inner[g] == top ? root : (*next)++;
    return 0;
}

static unsigned char *page_at(unsigned char *image, uint32_t page) {
    return image + (size_t)(page - 1) * PAGE;
}

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v; }

static void put32(unsigned char *p, uint32_t v) { put_be(p, v, 4); }

/* a b-tree page's header and cells; `at`: where its header starts (100 on page 1) */
static void write_header(unsigned char *pg, Py_ssize_t at, int flag, Py_ssize_t cells,
                         Py_ssize_t content) {
    pg[at] = (unsigned char)flag;
    put16(pg + at + 1, 0);
    put16(pg + at + 3, (unsigned)cells);
    put16(pg + at + 5, content == 65536 ? 0 : (unsigned)content);  /* (0 means 65,536) */
    pg[at + 7] = 0;
}

static void write_leaf(unsigned char *image, const Table *tb, const Tree *t, const Node *leaf,
                       Py_ssize_t at) {
    unsigned char *pg = page_at(image, leaf->page);
    Py_ssize_t content = PAGE;
    for (Py_ssize_t j = 0; j < leaf->count; j++) {
        Py_ssize_t k = leaf->first + j;
        const Row *r = &tb->rows[k];
        Py_ssize_t size = cell_size(r), local = local_part(r->length);
        content -= size;
        unsigned char *c = pg + content;
        Py_ssize_t o = put_varint(c, (unsigned long long)r->length);
        o += put_varint(c + o, (unsigned long long)r->rowid);
        const unsigned char *payload = tb->records.buf + r->offset;
        memcpy(c + o, payload, local);
        o += local;
        if (local < r->length) {  /* the rest in a chain of overflow pages */
            uint32_t page = t->overflow[k];
            put32(c + o, page);
            Py_ssize_t done = local;
            while (done < r->length) {
                unsigned char *ov = page_at(image, page);
                Py_ssize_t part = r->length - done < OVERFLOW_DATA ? r->length - done : OVERFLOW_DATA;
                put32(ov, done + part < r->length ? page + 1 : 0);
                memcpy(ov + 4, payload + done, part);
                done += part;
                page++;
            }
        }
        put16(pg + at + 8 + 2 * j, (unsigned)content);
    }
    write_header(pg, at, 0x0d, leaf->count, content);
}

static void write_inner(unsigned char *image, const Node *g) {
    const Node *below = g->below;
    unsigned char *pg = page_at(image, g->page);
    Py_ssize_t content = PAGE, cells = g->count - 1;
    for (Py_ssize_t j = 0; j < cells; j++) {
        const Node *child = &below[g->first + j];
        unsigned char c[13];
        put32(c, child->page);
        Py_ssize_t size = 4 + put_varint(c + 4, (unsigned long long)child->key);
        content -= size;
        memcpy(pg + content, c, size);
        put16(pg + 12 + 2 * j, (unsigned)content);
    }
    write_header(pg, 0, 0x05, cells, content);
    put32(pg + 8, below[g->first + cells].page);
}

static void write_tree(unsigned char *image, const Table *tb, const Tree *t) {
    for (Py_ssize_t l = 0; l < t->nleaves; l++) write_leaf(image, tb, t, &t->leaves[l], 0);
    for (Py_ssize_t g = 0; g < t->ninner; g++) write_inner(image, &t->inner[g]);
}

static int by_rowid(const void *a, const void *b) {
    long long x = ((const Row *)a)->rowid, y = ((const Row *)b)->rowid;
    return x < y ? -1 : x > y;
}

static void close_packer(Packer *p) {
    for (int k = 0; k < TABLES; k++) {
        PyMem_Free(p->tables[k].records.buf);
        PyMem_Free(p->tables[k].rows);
        memset(&p->tables[k], 0, sizeof(Table));
    }
    p->open = 0;
}

/* the database's image (bytes); the packer is closed after */
static PyObject *Packer_serialize(PyObject *self, PyObject *unused) {
    Packer *p = (Packer *)self;
    if (!usable(p)) return NULL;
    Table *pt = &p->tables[T_PATTERN];
    qsort(pt->rows, pt->n, sizeof(Row), by_rowid);  /* (equal keys are refused below) */
    for (Py_ssize_t k = 1; k < pt->n; k++)
        if (pt->rows[k].rowid == pt->rows[k - 1].rowid)
            return failed(p, "UNIQUE constraint failed: p.i");
    /* sqlite_schema on page 1: (type, name, tbl_name, rootpage, sql) per table */
    static const char *names[TABLES] = {"s", "t", "p"};
    Table schema = {0};
    for (int k = 0; k < TABLES; k++) {
        Val v[5];
        v[0].type = V_TEXT; v[0].p = "table"; v[0].n = 5;
        v[1].type = V_TEXT; v[1].p = names[k]; v[1].n = 1;
        v[2] = v[1];
        v[3].type = V_INT; v[3].i = 2 + k;
        v[4].type = V_TEXT;
        v[4].p = PyUnicode_AsUTF8AndSize(p->sql[k], &v[4].n);
        if (!v[4].p || add_record(&schema, k + 1, v, 5, 0) < 0) goto fail;
    }
    Tree trees[TABLES];
    uint32_t next = 2 + TABLES;
    int laid = 0;
    for (; laid < TABLES; laid++)
        if (lay_out(&p->tables[laid], &trees[laid], 2 + laid, &next) < 0) goto fail_trees;
    Py_ssize_t size = (Py_ssize_t)(next - 1) * PAGE;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out) goto fail_trees;
    unsigned char *image = (unsigned char *)PyBytes_AS_STRING(out);
    memset(image, 0, size);
    for (int k = 0; k < TABLES; k++) write_tree(image, &p->tables[k], &trees[k]);
    /* page 1: the file header, then sqlite_schema's one leaf */
    Node leaf = {0, schema.n, 1, 0, NULL};
    Tree none = {0};
    write_leaf(image, &schema, &none, &leaf, 100);
    memcpy(image, "SQLite format 3", 16);
    put16(image + 16, PAGE == 65536 ? 1 : PAGE);  /* (1 means 65,536) */
    image[18] = 1;  /* legacy (rollback journal) read and write versions */
    image[19] = 1;
    image[20] = 0;  /* no reserved bytes */
    image[21] = 64;  /* payload fractions, fixed by the format */
    image[22] = 32;
    image[23] = 32;
    put32(image + 28, next - 1);  /* pages (valid: change counter = version-valid-for) */
    put32(image + 40, SCHEMA_COOKIE);
    put32(image + 44, 4);  /* schema format 4 (serial types 8 and 9 for 0 and 1) */
    put32(image + 56, 1);  /* UTF-8 */
    for (int k = 0; k < TABLES; k++) free_tree(&trees[k]);
    PyMem_Free(schema.records.buf); PyMem_Free(schema.rows);
    close_packer(p);
    return out;
fail_trees:
    for (int k = 0; k < laid; k++) free_tree(&trees[k]);
fail:
    PyMem_Free(schema.records.buf); PyMem_Free(schema.rows);
    p->broken = 1;
    return NULL;
}

static int Packer_init(PyObject *self, PyObject *args, PyObject *kwds) {
    Packer *p = (Packer *)self;
    PyObject *sql[TABLES];
    Py_ssize_t fail_after = -1;
    static char *kw[] = {"s_sql", "t_sql", "p_sql", "fail_after", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UUU|n", kw, &sql[0], &sql[1], &sql[2],
                                     &fail_after))
        return -1;
    close_packer(p);
    for (int k = 0; k < TABLES; k++) {
        Py_INCREF(sql[k]);
        Py_XSETREF(p->sql[k], sql[k]);
    }
    p->subtrees = 0;
    p->broken = 0;
    p->fail_after = fail_after;
    p->open = 1;
    return 0;
}

static void Packer_dealloc(PyObject *self) {
    Packer *p = (Packer *)self;
    close_packer(p);
    for (int k = 0; k < TABLES; k++) Py_CLEAR(p->sql[k]);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *Packer_count(PyObject *self, void *closure) {
    return PyLong_FromSsize_t(((Packer *)self)->subtrees);
}

static PyMethodDef Packer_methods[] = {
    {"subtrees", Packer_subtrees, METH_O, "subtrees(rows): add rows of the subtrees table."},
    {"sentences", Packer_sentences, METH_O, "sentences(rows): add rows of the sentences table."},
    {"patterns", Packer_patterns, METH_O, "patterns(rows): add (number, text) patterns."},
    {"serialize", Packer_serialize, METH_NOARGS,
     "serialize() -> bytes: the database's image; the packer is closed after."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Packer_getset[] = {
    {"count", Packer_count, NULL, "subtree rows added so far", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PackerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "treeindex.store._pack.Packer",
    .tp_basicsize = sizeof(Packer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A task's packed image, an SQLite database file written page by page.",
    .tp_new = PyType_GenericNew,
    .tp_init = Packer_init,
    .tp_dealloc = Packer_dealloc,
    .tp_methods = Packer_methods,
    .tp_getset = Packer_getset,
};

static int is_packer(PyObject *o) { return PyObject_TypeCheck(o, &PackerType); }

static PackAPI api = {is_packer, add_subtree};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pack",
                                    "Packed images: SQLite database files written page by page.",
                                    -1, NULL};

PyMODINIT_FUNC PyInit__pack(void) {
    if (PyType_Ready(&PackerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&PackerType);
    if (PyModule_AddObject(m, "Packer", (PyObject *)&PackerType) < 0) {
        Py_DECREF(&PackerType);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *capsule = PyCapsule_New(&api, PACK_CAPSULE, NULL);
    if (!capsule || PyModule_AddObject(m, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
