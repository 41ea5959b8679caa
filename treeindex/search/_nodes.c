/* Fast path of treeindex.search.nodestore: the node block of a list of sentences, in one
 * pass over each sentence's bytes.
 *
 * nodes(items) -> (sentences, elements, sent, plain, kind, parent, size, columns) or a list:
 * items are the sentences' <alpino_ds> bytes (UTF-8, well-formed: lxml checked them), or,
 * for a sentence that was read by lxml, its element list (kind, parent, size, attributes).
 * A sentence this scanner does not take exactly (a namespace, a DOCTYPE, a reference to an
 * entity other than the five XML predefines, a <node> inside another element than <node>
 * and <alpino_ds>) makes it return the positions of all such sentences: the caller
 * gives them as element lists and calls again. columns: [(name, ids (uint8, uint16 or uint32
 * LE: the narrowest that holds the column's values), width, vocab joined by NUL)] in order of
 * first appearance. The arrays are little-endian bytes, as
 * nodestore.build writes them (tests compare the two).
 *
 * The builder also makes each sentence's search terms (_terms.h) from the values it puts in
 * its columns: a value's term is made once per block, not once per attribute. Its reader
 * of a sentence's bytes is _nodes_read.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "../worker/_bytes.h"

/* the seed of the tables below (values, terms), drawn at import (draw_seed): input fills
 * them, so their probe chains must not be something one can prepare; ids and terms follow
 * first appearance, whatever the seed */
static uint64_t nodes_seed;

typedef struct { char *buf; Py_ssize_t len, cap; } Buf;

/* room for `more` bytes after b->len */
static inline int buf_reserve(Buf *b, Py_ssize_t more) {
    if (b->len + more <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *nb = PyMem_Realloc(b->buf, cap);
    if (!nb) { PyErr_NoMemory(); return -1; }
    b->buf = nb;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *p, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return 0;
}

#include "_terms.h"

static int put_i32(Buf *b, int32_t v) {
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return buf_put(b, c, 4);
}

/* a value of a column: its place in the vocabulary, and its search term (in one struct:
 * the look-up of a value reads its length and start, and then the term's mark, in one
 * cache line) */
typedef struct {
    uint32_t off, len;  /* (a block's vocabulary stays far below 4 GB: value_id checks) */
    Term term;
} Value;

typedef struct {
    char *name;
    Py_ssize_t name_len;
    uint16_t *ids16;  /* per element, grown with the elements: 16 bits until a column has */
    uint32_t *ids32;  /* 65,535 values or more, then 32 */
    int wide;
    Py_ssize_t ids_cap;
    Buf vocab;  /* values joined by NUL */
    Value *vals;  /* per value: where in vocab, and its search term */
    Py_ssize_t count, vcap;
    uint32_t *table;  /* open addressing: value index + 1 */
    Py_ssize_t tcap;
    Py_ssize_t mark;  /* values before the sentence being scanned (to undo it) */
    int tkind;  /* what its values give as search terms (_terms.h) */
    Term presence;  /* the term for being there */
} Column;

typedef struct {
    Column *cols;
    Py_ssize_t ncols, capcols;
    Buf kind, parent, size, sent, plain;
    Py_ssize_t n;  /* elements */
    Buf scratch;  /* a decoded value */
    int32_t names[1024];  /* attribute name hash -> column + 1 */
    Py_ssize_t sentences;
    /* the search terms (each made once per column and value), whether the element whose
     * attributes are read is a <node>, and its @word and @lemma (column, value id) */
    Terms terms;
    Column wl;  /* the values of `wl` terms (not a column of the block): of a word that is
                 * its own lemma, and of an attribute named wl, which make one string */
    int in_node;
    Py_ssize_t wcol, lcol;  /* (positions: a new column may move the columns) */
    uint32_t wid, lid;
} State;

static size_t hash(const char *p, Py_ssize_t n) {
    size_t h = 1469598103934665603ULL ^ nodes_seed;  /* (as the tokenizer's, below) */
    for (Py_ssize_t k = 0; k < n; k++) h = (h ^ (unsigned char)p[k]) * 1099511628211ULL;
    return h;
}

#define NAME_SLOTS 1024  /* more attribute names than this: a linear search past them */

static Column *column(State *st, const char *name, Py_ssize_t n) {
    /* names are short and few: their length and two bytes are hash enough */
    size_t h = n ? ((size_t)n * 131 + (unsigned char)name[0] * 31 +
                    (unsigned char)name[n - 1]) & (NAME_SLOTS - 1) : 0;
    int32_t slot = st->names[h];
    if (slot > 0) {
        Column *c = &st->cols[slot - 1];
        if (c->name_len == n && same(c->name, name, n)) return c;
    }
    for (Py_ssize_t k = 0; k < st->ncols; k++)
        if (st->cols[k].name_len == n && memcmp(st->cols[k].name, name, n) == 0) {
            st->names[h] = (int32_t)(k + 1);
            return &st->cols[k];
        }
    if (st->ncols == st->capcols) {
        Column *nc = grow_array(st->cols, &st->capcols, sizeof(Column), 32);
        if (!nc) return NULL;
        st->cols = nc;
    }
    Column *c = &st->cols[st->ncols];
    memset(c, 0, sizeof(Column));
    c->name = PyMem_Malloc(n ? n : 1);
    if (!c->name) { PyErr_NoMemory(); return NULL; }
    memcpy(c->name, name, n);
    c->name_len = n;
    c->tkind = term_kind(name, n);
    c->presence = NO_TERM_YET;
    st->ncols++;
    st->names[h] = (int32_t)st->ncols;
    return c;
}

/* the id of a value in a column (added if new) */
static inline __attribute__((always_inline)) int value_id(Column *c, const char *v,
                                                         Py_ssize_t n, size_t vh,
                                                         uint32_t *out) {
    if ((c->count + 1) * 2 > c->tcap) {
        Py_ssize_t cap = c->tcap ? c->tcap * 2 : 64;
        uint32_t *t = PyMem_Calloc(cap, sizeof(uint32_t));
        if (!t) { PyErr_NoMemory(); return -1; }
        for (Py_ssize_t k = 0; k < c->count; k++) {
            size_t h = hash(c->vocab.buf + c->vals[k].off, c->vals[k].len) & (cap - 1);
            while (t[h]) h = (h + 1) & (cap - 1);
            t[h] = (uint32_t)(k + 1);
        }
        PyMem_Free(c->table);
        c->table = t;
        c->tcap = cap;
    }
    size_t h = vh & (c->tcap - 1);
    while (c->table[h]) {
        Py_ssize_t k = c->table[h] - 1;
        if (c->vals[k].len == n && same(c->vocab.buf + c->vals[k].off, v, n)) {
            *out = (uint32_t)(k + 1);
            return 0;
        }
        h = (h + 1) & (c->tcap - 1);
    }
    if (c->count == c->vcap) {
        Value *nv = grow_array(c->vals, &c->vcap, sizeof(Value), 64);
        if (!nv) return -1;
        c->vals = nv;
    }
    if (c->vocab.len + n + 1 > (Py_ssize_t)UINT32_MAX) {  /* (4 GB of one attribute's values) */
        PyErr_SetString(PyExc_OverflowError, "too many values for one node block");
        return -1;
    }
    c->vals[c->count].term = NO_TERM_YET;
    if (c->count && buf_put(&c->vocab, "", 1) < 0) return -1;  /* the NUL between values */
    c->vals[c->count].off = (uint32_t)c->vocab.len;
    c->vals[c->count].len = (uint32_t)n;
    if (buf_put(&c->vocab, v, n) < 0) return -1;
    c->table[h] = (uint32_t)(c->count + 1);
    c->count++;
    *out = (uint32_t)c->count;
    return 0;
}

/* term `t` (`name` 0 value `id` of column `c`) added to the sentence's terms */
static inline int value_term(State *st, Column *c, uint32_t id, Term *t, const char *name,
                             Py_ssize_t nn) {
    if (t->stamp == st->terms.stamp) return 0;
    if (t->len == -1 && make_term(&st->terms, t, name, nn, c->vocab.buf + c->vals[id - 1].off,
                                  c->vals[id - 1].len) < 0)
        return -1;
    return put_term(&st->terms, t);
}

/* the term `wl` 0 value */
static int wl_term(State *st, const char *v, Py_ssize_t n) {
    uint32_t id;
    if (value_id(&st->wl, v, n, hash(v, n), &id) < 0) return -1;
    return value_term(st, &st->wl, id, &st->wl.vals[id - 1].term, "wl", 2);
}

/* a <node>'s attribute: its term (@word and @lemma: at the node's end) */
static inline int attr_term(State *st, Column *c, uint32_t id) {
    switch (c->tkind) {
    case T_WORD: st->wcol = c - st->cols; st->wid = id; return 0;
    case T_LEMMA: st->lcol = c - st->cols; st->lid = id; return 0;
    case T_WL: return wl_term(st, c->vocab.buf + c->vals[id - 1].off, c->vals[id - 1].len);
    case T_PRESENCE:
        if (c->presence.stamp == st->terms.stamp) return 0;
        if (c->presence.len == -1 &&
            make_term(&st->terms, &c->presence, c->name, c->name_len, NULL, -1) < 0)
            return -1;
        return put_term(&st->terms, &c->presence);
    default:
        return value_term(st, c, id, &c->vals[id - 1].term, c->name, c->name_len);
    }
}

/* the end of a <node>'s attributes: a word that is its own lemma gives one term (`wl`),
 * else @word and @lemma give theirs */
static int node_end(State *st) {
    Column *w = st->wcol >= 0 ? &st->cols[st->wcol] : NULL;
    Column *l = st->lcol >= 0 ? &st->cols[st->lcol] : NULL;
    st->wcol = st->lcol = -1;
    Value *wv = w ? &w->vals[st->wid - 1] : NULL, *lv = l ? &l->vals[st->lid - 1] : NULL;
    if (wv && lv && wv->len == lv->len &&
        same(w->vocab.buf + wv->off, l->vocab.buf + lv->off, wv->len))
        return wl_term(st, w->vocab.buf + wv->off, wv->len);
    if (wv && value_term(st, w, st->wid, &wv->term, w->name, w->name_len) < 0) return -1;
    if (lv && value_term(st, l, st->lid, &lv->term, l->name, l->name_len) < 0) return -1;
    return 0;
}

static int set_attr_hashed(State *st, const char *name, Py_ssize_t an, const char *v,
                           Py_ssize_t vn, size_t vh) {
    Column *c = column(st, name, an);
    if (!c) return -1;
    Py_ssize_t el = st->n - 1;
    if (el >= c->ids_cap) {
        Py_ssize_t cap = c->ids_cap ? c->ids_cap : 1024;
        while (cap <= el) cap *= 2;
        if (c->wide) {
            uint32_t *ni = PyMem_Realloc(c->ids32, cap * sizeof(uint32_t));
            if (!ni) { PyErr_NoMemory(); return -1; }
            memset(ni + c->ids_cap, 0, (cap - c->ids_cap) * sizeof(uint32_t));
            c->ids32 = ni;
        } else {
            uint16_t *ni = PyMem_Realloc(c->ids16, cap * sizeof(uint16_t));
            if (!ni) { PyErr_NoMemory(); return -1; }
            memset(ni + c->ids_cap, 0, (cap - c->ids_cap) * sizeof(uint16_t));
            c->ids16 = ni;
        }
        c->ids_cap = cap;
    }
    uint32_t id;
    if (value_id(c, v, vn, vh, &id) < 0) return -1;
    if (!c->wide && id >= 65535) {  /* too many values for 16 bits */
        uint32_t *w = PyMem_Calloc(c->ids_cap, sizeof(uint32_t));
        if (!w) { PyErr_NoMemory(); return -1; }
        for (Py_ssize_t e = 0; e < c->ids_cap; e++) w[e] = c->ids16[e];
        PyMem_Free(c->ids16);
        c->ids16 = NULL;
        c->ids32 = w;
        c->wide = 1;
    }
    if (c->wide) c->ids32[el] = id;
    else c->ids16[el] = (uint16_t)id;
    return st->in_node && c->tkind != T_NONE ? attr_term(st, c, id) : 0;
}

static uint32_t get_id(const Column *c, Py_ssize_t e) {
    if (e >= c->ids_cap) return 0;
    return c->wide ? c->ids32[e] : c->ids16[e];
}

static int set_attr(State *st, const char *name, Py_ssize_t an, const char *v, Py_ssize_t vn) {
    return set_attr_hashed(st, name, an, v, vn, hash(v, vn));
}

static int add_element(State *st, int kind, int32_t parent) {
    unsigned char k = (unsigned char)kind;
    if (buf_put(&st->kind, &k, 1) < 0 || put_i32(&st->parent, parent) < 0 ||
        put_i32(&st->size, 0) < 0)
        return -1;
    st->n++;
    return 0;
}

static void set_size(State *st, Py_ssize_t el, int32_t size) {
    unsigned char *p = (unsigned char *)st->size.buf + 4 * el;
    p[0] = (unsigned char)size; p[1] = (unsigned char)(size >> 8);
    p[2] = (unsigned char)(size >> 16); p[3] = (unsigned char)(size >> 24);
}

/* a column's values back to its first `mark`: those added since came last, so dropping
 * them from the table breaks no probe chain */
static void drop_values(Column *c) {
    if (c->count <= c->mark) return;
    for (Py_ssize_t t = 0; t < c->tcap; t++)
        if (c->table[t] > (uint32_t)c->mark) c->table[t] = 0;
    c->count = c->mark;
    c->vocab.len = c->mark ? c->vals[c->mark - 1].off + c->vals[c->mark - 1].len : 0;
}

/* back to the first `n` elements and each column's first `mark` values (the element
 * arrays, the ids set for later elements, the values added since) */
static void truncate_to(State *st, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < st->ncols; k++) {
        Column *c = &st->cols[k];
        Py_ssize_t hi = c->ids_cap < st->n ? c->ids_cap : st->n;
        for (Py_ssize_t e = n; e < hi; e++) {
            if (c->wide) c->ids32[e] = 0;
            else c->ids16[e] = 0;
        }
        drop_values(c);
    }
    st->n = n;
    st->kind.len = n;  /* (one byte per element; parent and size four) */
    st->parent.len = st->size.len = 4 * n;
}

#include "_nodes_read.h"

/* one sentence given as its element list: ((kind, parent, size, ((name, value), ...)), ...) */
static int add_list(State *st, PyObject *elements) {
    PyObject *seq = PySequence_Fast(elements, "an element list");
    if (!seq) return -1;
    int32_t base = (int32_t)st->n;
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t k = 0; k < m; k++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, k);
        int kind, parent, size;
        PyObject *attrs;
        if (!PyArg_ParseTuple(item, "iiiO", &kind, &parent, &size, &attrs)) goto error;
        if (add_element(st, kind, parent < 0 ? -1 : base + parent) < 0) goto error;
        set_size(st, st->n - 1, size);
        st->in_node = kind == 1;
        PyObject *aseq = PySequence_Fast(attrs, "attributes");
        if (!aseq) goto error;
        for (Py_ssize_t a = 0; a < PySequence_Fast_GET_SIZE(aseq); a++) {
            PyObject *pair = PySequence_Fast_GET_ITEM(aseq, a);
            PyObject *nm, *val;
            if (!PyArg_ParseTuple(pair, "UU", &nm, &val)) { Py_DECREF(aseq); goto error; }
            Py_ssize_t an, vn;
            const char *ap = PyUnicode_AsUTF8AndSize(nm, &an);
            const char *vp = PyUnicode_AsUTF8AndSize(val, &vn);
            if (!ap || !vp || set_attr(st, ap, an, vp, vn) < 0) { Py_DECREF(aseq); goto error; }
        }
        Py_DECREF(aseq);
        if (kind == 1 && node_end(st) < 0) goto error;
    }
    Py_DECREF(seq);
    return 0;
error:
    Py_DECREF(seq);
    return -1;
}

static void free_column(Column *c) {
    PyMem_Free(c->name); PyMem_Free(c->ids16); PyMem_Free(c->ids32);
    PyMem_Free(c->vocab.buf);
    PyMem_Free(c->vals); PyMem_Free(c->table);
}

static void free_state(State *st) {
    for (Py_ssize_t k = 0; k < st->ncols; k++) free_column(&st->cols[k]);
    free_column(&st->wl);
    PyMem_Free(st->cols);
    PyMem_Free(st->kind.buf); PyMem_Free(st->parent.buf); PyMem_Free(st->size.buf);
    PyMem_Free(st->sent.buf); PyMem_Free(st->plain.buf); PyMem_Free(st->scratch.buf);
    terms_free(&st->terms);
}

static void free_capsule(PyObject *cap) {
    State *st = PyCapsule_GetPointer(cap, "treeindex.nodes");
    if (st) { free_state(st); PyMem_Free(st); }
}

/* start() -> a builder; add(builder, item) -> the sentence's search terms, or None where
 * bytes must be given as an element list instead (nothing was added); finish(builder) ->
 * the tuple nodes() returns */
static PyObject *start(PyObject *self, PyObject *args) {
    State *st = PyMem_Calloc(1, sizeof(State));
    if (!st) return PyErr_NoMemory();
    PyObject *cap = PyCapsule_New(st, "treeindex.nodes", free_capsule);
    if (!cap) { PyMem_Free(st); return NULL; }
    return cap;
}

static PyObject *sentence_terms(State *st) {
    /* (the values are UTF-8 as the checked input or lxml gave them) */
    Buf *out = &st->terms.out;
    return PyUnicode_DecodeUTF8(out->buf ? out->buf : "", out->len, "replace");
}

static int add_item(State *st, PyObject *item) {  /* 1 added, 0 handed over, -1 error */
    Py_ssize_t sent_len = st->sent.len;
    if (put_i32(&st->sent, (int32_t)st->n) < 0) return -1;
    st->terms.stamp++;  /* (a new mark: a sentence handed over and given again starts afresh) */
    st->terms.out.len = 0;
    st->wcol = st->lcol = -1;
    unsigned char plain = 1;
    if (PyBytes_Check(item)) {
        int r = scan_sentence(st, PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item));
        if (r <= 0) { st->sent.len = sent_len; return r; }
    } else {
        PyObject *elements, *is_plain;
        if (!PyArg_ParseTuple(item, "OO", &elements, &is_plain)) return -1;
        int truth = PyObject_IsTrue(is_plain);
        if (truth < 0) return -1;
        plain = (unsigned char)truth;
        if (add_list(st, elements) < 0) return -1;
    }
    if (buf_put(&st->plain, &plain, 1) < 0) return -1;
    st->sentences++;
    return 1;
}

static PyObject *add(PyObject *self, PyObject *args) {
    PyObject *cap, *item;
    if (!PyArg_ParseTuple(args, "OO", &cap, &item)) return NULL;
    State *st = PyCapsule_GetPointer(cap, "treeindex.nodes");
    if (!st) return NULL;
    int r = add_item(st, item);
    if (r < 0) return NULL;
    if (r == 0) Py_RETURN_NONE;
    return sentence_terms(st);
}

static PyObject *result_of(State *st);

/* empty again, keeping what was allocated (for `terms`, one sentence at a time) */
static void reset_state(State *st) {
    for (Py_ssize_t k = 0; k < st->ncols; k++) {
        st->cols[k].mark = 0;
        st->cols[k].presence = NO_TERM_YET;  /* (the terms' strings go below) */
    }
    truncate_to(st, 0);
    st->wl.mark = 0;
    drop_values(&st->wl);
    st->sentences = 0;
    st->sent.len = st->plain.len = 0;
    terms_clear(&st->terms);
}

static State term_state;  /* terms(): kept from call to call (the GIL guards it) */

static PyObject *terms(PyObject *self, PyObject *xml) {
    if (!PyBytes_Check(xml)) {
        PyErr_SetString(PyExc_TypeError, "terms() takes a sentence's bytes");
        return NULL;
    }
    if (term_state.n > (1 << 16)) {  /* (after a huge sentence: not kept) */
        free_state(&term_state);
        memset(&term_state, 0, sizeof(State));
    }
    reset_state(&term_state);
    int r = add_item(&term_state, xml);
    if (r < 0) return NULL;
    if (r == 0) Py_RETURN_NONE;
    return sentence_terms(&term_state);
}

static PyObject *finish(PyObject *self, PyObject *args) {
    PyObject *cap;
    if (!PyArg_ParseTuple(args, "O", &cap)) return NULL;
    State *st = PyCapsule_GetPointer(cap, "treeindex.nodes");
    if (!st) return NULL;
    PyObject *result = result_of(st);
    free_state(st);
    memset(st, 0, sizeof(State));  /* (empty again: the capsule frees nothing twice) */
    return result;
}

static PyObject *bytes_of(Buf *b) { return PyBytes_FromStringAndSize(b->buf ? b->buf : "", b->len); }

static PyObject *result_of(State *st) {
    PyObject *result = NULL;
    if (put_i32(&st->sent, (int32_t)st->n) < 0) return NULL;
    PyObject *cols = PyList_New(0);
    if (!cols) return NULL;
    for (Py_ssize_t k = 0; k < st->ncols; k++) {
        Column *c = &st->cols[k];
        if (!c->count) continue;  /* made for a sentence that was handed over */
        /* ids 1..count (0: no such attribute) in the narrowest width that holds them */
        Py_ssize_t w = c->count < 256 ? 1 : c->count < 65535 ? 2 : 4;
        PyObject *ids = PyBytes_FromStringAndSize(NULL, w * st->n);
        if (!ids) { Py_DECREF(cols); return NULL; }
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(ids);
        if (w == 1) {
            for (Py_ssize_t e = 0; e < st->n; e++) o[e] = (unsigned char)get_id(c, e);
        } else {
            for (Py_ssize_t e = 0; e < st->n; e++) {
                uint32_t v = get_id(c, e);
                o[w * e] = (unsigned char)v;
                o[w * e + 1] = (unsigned char)(v >> 8);
                if (w == 4) {
                    o[w * e + 2] = (unsigned char)(v >> 16);
                    o[w * e + 3] = (unsigned char)(v >> 24);
                }
            }
        }
        PyObject *t = Py_BuildValue("(s#NiN)", c->name, c->name_len, ids, (int)w,
                                    bytes_of(&c->vocab));
        if (!t || PyList_Append(cols, t) < 0) { Py_XDECREF(t); Py_DECREF(cols); return NULL; }
        Py_DECREF(t);
    }
    result = Py_BuildValue("(nnNNNNNN)", st->sentences, st->n, bytes_of(&st->sent),
                           bytes_of(&st->plain), bytes_of(&st->kind), bytes_of(&st->parent),
                           bytes_of(&st->size), cols);
    return result;
}

static PyObject *nodes(PyObject *self, PyObject *args) {
    PyObject *items;
    if (!PyArg_ParseTuple(args, "O", &items)) return NULL;
    PyObject *seq = PySequence_Fast(items, "a list of sentences");
    if (!seq) return NULL;
    State st;
    memset(&st, 0, sizeof(st));
    PyObject *result = NULL;
    PyObject *handover = PyList_New(0);
    if (!handover) { Py_DECREF(seq); return NULL; }
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t k = 0; k < m; k++) {
        int r = add_item(&st, PySequence_Fast_GET_ITEM(seq, k));
        if (r < 0) goto done;
        if (r == 0) {
            PyObject *pos = PyLong_FromSsize_t(k);
            if (!pos || PyList_Append(handover, pos) < 0) { Py_XDECREF(pos); goto done; }
            Py_DECREF(pos);
        }
    }
    if (PyList_GET_SIZE(handover)) {
        result = handover;
        handover = NULL;
        goto done;
    }
    result = result_of(&st);
done:
    free_state(&st);
    Py_XDECREF(handover);
    Py_DECREF(seq);
    return result;
}

static PyObject *seed_of_tables(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(nodes_seed);
}

static PyMethodDef methods[] = {
    {"table_seed", seed_of_tables, METH_NOARGS,
     "table_seed() -> the seed this process's value and term tables hash with"},
    {"start", start, METH_NOARGS, "start() -> a builder for add() and finish()."},
    {"add", add, METH_VARARGS,
     "add(builder, item) -> the sentence's search terms, or None where the bytes must be\n"
     "given as an element list instead (nothing was added)."},
    {"terms", terms, METH_O,
     "terms(xml) -> a sentence's search terms, or None where lxml must read it."},
    {"finish", finish, METH_VARARGS, "finish(builder) -> what nodes() returns."},
    {"nodes", nodes, METH_VARARGS,
     "nodes(items) -> (sentences, elements, sent, plain, kind, parent, size, columns), or\n"
     "the positions of the sentences to give as element lists instead of bytes."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nodes",
                                    "Node blocks for treeindex.search.", -1, methods};

PyMODINIT_FUNC PyInit__nodes(void) {
    if (draw_seed("treeindex nodes", &nodes_seed) < 0) return NULL;
    return PyModule_Create(&module);
}
