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
 * its columns: a value's term is made once per block, not once per attribute.
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
        Py_ssize_t cap = st->capcols ? st->capcols * 2 : 32;
        Column *nc = PyMem_Realloc(st->cols, cap * sizeof(Column));
        if (!nc) { PyErr_NoMemory(); return NULL; }
        st->cols = nc;
        st->capcols = cap;
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
        Py_ssize_t cap = c->vcap ? c->vcap * 2 : 64;
        Value *nv = PyMem_Realloc(c->vals, cap * sizeof(Value));
        if (!nv) { PyErr_NoMemory(); return -1; }
        c->vals = nv;
        c->vcap = cap;
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

static void put_utf8(char *b, Py_ssize_t *o, unsigned long cp) {
    if (cp < 0x80) { b[(*o)++] = (char)cp; }
    else if (cp < 0x800) { b[(*o)++] = (char)(0xC0 | (cp >> 6)); b[(*o)++] = (char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) {
        b[(*o)++] = (char)(0xE0 | (cp >> 12)); b[(*o)++] = (char)(0x80 | ((cp >> 6) & 63));
        b[(*o)++] = (char)(0x80 | (cp & 63));
    } else {
        b[(*o)++] = (char)(0xF0 | (cp >> 18)); b[(*o)++] = (char)(0x80 | ((cp >> 12) & 63));
        b[(*o)++] = (char)(0x80 | ((cp >> 6) & 63)); b[(*o)++] = (char)(0x80 | (cp & 63));
    }
}

/* An attribute value as XML gives it (references decoded, literal whitespace one space each,
 * \r\n one space) in st->scratch; 1: done, 0: a reference it does not decode, -1: error */
static int decode_value(State *st, const char *p, Py_ssize_t n) {
    st->scratch.len = 0;
    if (n + 8 > st->scratch.cap) {
        char *nb = PyMem_Realloc(st->scratch.buf, n + 8);
        if (!nb) { PyErr_NoMemory(); return -1; }
        st->scratch.buf = nb;
        st->scratch.cap = n + 8;
    }
    char *o = st->scratch.buf;
    Py_ssize_t len = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        char c = p[k];
        if (c != '&') {
            if (c == '\r' && k + 1 < n && p[k + 1] == '\n') continue;
            o[len++] = (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
            continue;
        }
        const char *semi = memchr(p + k, ';', n - k);
        if (!semi) return 0;
        Py_ssize_t rn = semi - (p + k) - 1;
        const char *r = p + k + 1;
        unsigned long cp = 0;
        if (rn == 3 && memcmp(r, "amp", 3) == 0) cp = '&';
        else if (rn == 2 && memcmp(r, "lt", 2) == 0) cp = '<';
        else if (rn == 2 && memcmp(r, "gt", 2) == 0) cp = '>';
        else if (rn == 4 && memcmp(r, "quot", 4) == 0) cp = '"';
        else if (rn == 4 && memcmp(r, "apos", 4) == 0) cp = '\'';
        else if (rn >= 2 && r[0] == '#') {
            int hex = r[1] == 'x';
            Py_ssize_t d = hex ? 2 : 1;
            if (d >= rn || rn - d > 8) return 0;
            for (; d < rn; d++) {
                char h = r[d];
                int v = (h >= '0' && h <= '9') ? h - '0'
                        : (hex && h >= 'a' && h <= 'f') ? h - 'a' + 10
                        : (hex && h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                if (v < 0) return 0;
                cp = cp * (hex ? 16 : 10) + v;
            }
            if (cp == 0 || cp > 0x10FFFF) return 0;
        } else {
            return 0;
        }
        put_utf8(o, &len, cp);  /* a reference is at least 4 bytes: never longer */
        k += rn + 1;
    }
    st->scratch.len = len;
    return 1;
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

/* One sentence's bytes. 1: added, 0: hand it over (nothing added), -1: error. */
static int scan_sentence(State *st, const char *s, Py_ssize_t n) {
    Py_ssize_t start_n = st->n;
    for (Py_ssize_t k = 0; k < st->ncols; k++) st->cols[k].mark = st->cols[k].count;
    int32_t stack[512];  /* element numbers of the open modelled elements; -1 others */
    int depth = 0;
    int32_t root = (int32_t)st->n;
    int seen_ds = 0;
    if (add_element(st, 2, -1) < 0) return -1;
    Py_ssize_t i = 0;
    int result = 1;
    while (i < n) {
        i = next_lt(s, i, n);
        if (i < 0) break;
        if (i + 1 >= n) { result = 0; break; }
        char c = s[i + 1];
        if (c == '!') {
            const char *end_mark;
            Py_ssize_t from;
            if (i + 4 <= n && memcmp(s + i, "<!--", 4) == 0) { end_mark = "-->"; from = i + 4; }
            else if (i + 9 <= n && memcmp(s + i, "<![CDATA[", 9) == 0) { end_mark = "]]>"; from = i + 9; }
            else { result = 0; break; }  /* a DOCTYPE */
            Py_ssize_t k = from;
            const char *e = NULL;
            while (k + 3 <= n) {
                const char *h = memchr(s + k, end_mark[0], n - k);
                if (!h || (h - s) + 3 > n) break;
                if (memcmp(h, end_mark, 3) == 0) { e = h; break; }
                k = h - s + 1;
            }
            if (!e) { result = 0; break; }
            i = e - s + 3;
            continue;
        }
        if (c == '?') {
            Py_ssize_t k = i + 2;
            const char *e = NULL;
            while (k + 2 <= n) {
                const char *h = memchr(s + k, '?', n - k);
                if (!h || (h - s) + 2 > n) break;
                if (h[1] == '>') { e = h; break; }
                k = h - s + 1;
            }
            if (!e) { result = 0; break; }
            i = e - s + 2;
            continue;
        }
        if (c == '/') {
            Py_ssize_t gt = i + 2;
            while (gt < n && s[gt] != '>') gt++;
            if (gt >= n || depth == 0) { result = 0; break; }
            int32_t el = stack[--depth];
            if (el >= 0) set_size(st, el, (int32_t)(st->n - el - 1));
            i = gt + 1;
            continue;
        }
        Py_ssize_t j = i + 1;
        unsigned char seen_class = 0;
        while (j < n && !(CLASS(s[j]) & ENDS_TAG_NAME)) seen_class |= CLASS(s[j++]);
        Py_ssize_t nl = j - (i + 1);
        const char *name = s + i + 1;
        if (seen_class & COLON) { result = 0; break; }
        int is_node = nl == 4 && same(name, "node", 4);
        int is_ds = depth == 0 && !seen_ds && nl == 9 && same(name, "alpino_ds", 9);
        int32_t top = depth ? stack[depth - 1] : -2;  /* -2: outside any element */
        int32_t el = -1;
        if (depth == 0 && !is_ds) { result = 0; break; }
        if (is_ds) {
            seen_ds = 1;
            if (add_element(st, 0, root) < 0) return -1;
            el = (int32_t)(st->n - 1);
        } else if (is_node) {
            if (top < 0) { result = 0; break; }  /* a node outside the tree */
            if (add_element(st, 1, top) < 0) return -1;
            el = (int32_t)(st->n - 1);
        }
        int empty = 0, bad = 0;
        st->in_node = is_node;
        for (;;) {
            while (j < n && is_space(s[j])) j++;
            if (j >= n) { bad = 1; break; }
            if (s[j] == '>') { j++; break; }
            if (s[j] == '/') {
                if (j + 1 < n && s[j + 1] == '>') { empty = 1; j += 2; break; }
                bad = 1; break;
            }
            Py_ssize_t as = j;
            seen_class = 0;
            while (j < n && !(CLASS(s[j]) & ENDS_ATTR_NAME)) seen_class |= CLASS(s[j++]);
            Py_ssize_t an = j - as;
            if ((seen_class & COLON) || (an >= 5 && same(s + as, "xmlns", 5))) { bad = 1; break; }
            while (j < n && is_space(s[j])) j++;
            if (j >= n || s[j] != '=') { bad = 1; break; }
            j++;
            while (j < n && is_space(s[j])) j++;
            if (j >= n || (s[j] != '"' && s[j] != '\'')) { bad = 1; break; }
            unsigned char quote = s[j++] == '"' ? DQUOTE : SQUOTE;
            /* the value's end, its hash and whether it needs decoding (a reference, or
             * whitespace XML normalizes), in one pass */
            Py_ssize_t vs = j;
            size_t vh = 1469598103934665603ULL ^ nodes_seed;  /* hash()'s, in the pass */
            seen_class = 0;
            for (; j < n; j++) {
                unsigned char vc = (unsigned char)s[j], k = byte_class[vc];
                if (k & quote) break;
                seen_class |= k;
                vh = (vh ^ vc) * 1099511628211ULL;
            }
            if (j >= n) { bad = 1; break; }
            Py_ssize_t vn = j - vs;
            j++;
            if (el < 0) continue;
            if (!(seen_class & NEEDS_DECODE)) {
                if (set_attr_hashed(st, s + as, an, s + vs, vn, vh) < 0) return -1;
                continue;
            }
            int r = decode_value(st, s + vs, vn);
            if (r < 0) return -1;
            if (r == 0) { bad = 1; break; }
            if (set_attr(st, s + as, an, st->scratch.buf, st->scratch.len) < 0) return -1;
        }
        if (bad) { result = 0; break; }
        if (is_node && node_end(st) < 0) return -1;
        if (empty) {
            if (el >= 0) set_size(st, el, 0);
        } else {
            if (depth == 512) { result = 0; break; }
            stack[depth++] = el;
        }
        i = j;
    }
    if (result == 1 && (depth != 0 || !seen_ds)) result = 0;
    if (result == 1) {
        set_size(st, root, (int32_t)(st->n - root - 1));
        return 1;
    }
    truncate_to(st, start_n);  /* undo the sentence */
    return 0;
}

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
