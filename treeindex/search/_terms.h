/* The search terms of a sentence, made by the node block builder (_nodes.c) from the values
 * it has just put in its columns: each distinct value of a column is escaped into a term
 * once per task, and a sentence's terms are those of the values its <node>s hold, each once.
 * The rules are treeindex/search/terms.py's (its Python twin, `attribute_terms`, makes the
 * same set; tests compare them). Included by _nodes.c after its Buf and buf_reserve. */
#ifndef TREEINDEX_TERMS_H
#define TREEINDEX_TERMS_H

#include <stdint.h>
#include "../worker/_bytes.h"

#define TERM_MAX_VALUE 100  /* bytes (UTF-8) of a value: longer ones get no term */

/* what a column's values give: a term each, none, one for being there, (@word, @lemma) a
 * term decided at the node's end (a word that is its own lemma: one `wl` term), or (an
 * attribute named wl) the same term as such a word */
enum { T_VALUE, T_NONE, T_PRESENCE, T_WORD, T_LEMMA, T_WL };

/* a column value's term: the sentence that has it already (stamp), and where its string is
 * in Terms.cache (with TERM_SHARED: a string other values may make too); len -1: not made
 * yet, -2: none (a value too long) */
typedef struct { uint32_t stamp; int32_t len; uint32_t off; } Term;

#define TERM_SHARED 0x80000000u

static const Term NO_TERM_YET = {0, -1, 0};

/* The terms of a block: their strings in `cache`, each after a header of two uint32 (the
 * sentence that has it already, its length); `out`: the sentence's terms, space-separated;
 * `stamp`: the sentence's mark.
 *
 * A sentence lists each string once, as a set does. Each column value has its term (and a
 * word that is its own lemma and an attribute named wl share one vocabulary), so the stamp
 * of a value's term finds almost every repeat; but two values can make one string where
 * the escaping is ambiguous: a literal "x5f" and an escaped "_", or a '0' in a name or a
 * value against the one between them ("a0" 0 "b" and "a" 0 "0b"). So a string with a
 * lowercase 'x' and two lowercase hex digits, or with two '0's, is kept once (`table`: open
 * addressing over the offsets of such strings, 0 for none), and its header's stamp decides.
 * A string without either can be made by one value only (one column per name, one entry
 * per value), and needs neither the table nor its header. */
typedef struct {
    Buf cache, out;
    uint32_t *table;
    Py_ssize_t tcap, count;
    uint32_t stamp;
} Terms;

static void terms_free(Terms *t) {
    PyMem_Free(t->cache.buf);
    PyMem_Free(t->out.buf);
    PyMem_Free(t->table);
}

/* empty (a new block, or a new sentence for `terms()`), keeping what was allocated */
static void terms_clear(Terms *t) {
    t->cache.len = t->out.len = 0;
    if (t->count) memset(t->table, 0, t->tcap * sizeof(uint32_t));
    t->count = 0;
}

static int term_kind(const char *a, Py_ssize_t n) {
    /* positions and ids: no term */
    if ((n == 5 && same(a, "begin", 5)) || (n == 3 && same(a, "end", 3)) ||
        (n == 2 && same(a, "id", 2)))
        return T_NONE;
    if (n == 4 && same(a, "word", 4)) return T_WORD;
    if (n == 5 && same(a, "lemma", 5)) return T_LEMMA;
    if (n == 2 && same(a, "wl", 2)) return T_WL;
    /* long or redundant values: his*, index, frame, sense, root, postag, pos, mwu_root,
     * mwu_sense, other_id, dscsense, sc */
    if (n >= 3 && same(a, "his", 3)) return T_PRESENCE;
    switch (n) {
    case 2: return same(a, "sc", 2) ? T_PRESENCE : T_VALUE;
    case 3: return same(a, "pos", 3) ? T_PRESENCE : T_VALUE;
    case 4: return same(a, "root", 4) ? T_PRESENCE : T_VALUE;
    case 5: return (same(a, "index", 5) || same(a, "frame", 5) || same(a, "sense", 5))
                   ? T_PRESENCE : T_VALUE;
    case 6: return same(a, "postag", 6) ? T_PRESENCE : T_VALUE;
    case 8: return (same(a, "mwu_root", 8) || same(a, "other_id", 8) ||
                    same(a, "dscsense", 8)) ? T_PRESENCE : T_VALUE;
    case 9: return same(a, "mwu_sense", 9) ? T_PRESENCE : T_VALUE;
    default: return T_VALUE;
    }
}

/* ASCII letters and digits and the bytes of non-ASCII characters stay; any other ASCII
 * character becomes 'x' and two hex digits (so that FTS5's ascii tokenizer keeps a term
 * whole) */
static const unsigned char term_byte[256] = {  /* 1: the byte stays as it is */
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    [0x80 ... 0xFF] = 1,
};

static const char term_hex[] = "0123456789abcdef";

/* `p` escaped onto the end of `b` (room for 3 bytes each reserved by the caller) */
static void put_escaped(Buf *b, const char *p, Py_ssize_t n) {
    char *o = b->buf + b->len;
    for (Py_ssize_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)p[k];
        if (term_byte[c]) {
            *o++ = (char)c;
        } else {
            *o++ = 'x';
            *o++ = term_hex[c >> 4];
            *o++ = term_hex[c & 15];
        }
    }
    b->len = o - b->buf;
}

/* whether other values may make this string too (see Terms) */
static int ambiguous(const char *p, uint32_t n) {
    int zeros = 0;
    for (uint32_t k = 0; k < n; k++) {
        char c = p[k];
        if (c == '0' && ++zeros == 2) return 1;
        if (c == 'x' && k + 2 < n) {
            char a = p[k + 1], b = p[k + 2];
            if (((a >= '0' && a <= '9') || (a >= 'a' && a <= 'f')) &&
                ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'f')))
                return 1;
        }
    }
    return 0;
}

static uint32_t *term_header(const Terms *t, uint32_t off) {
    return (uint32_t *)(t->cache.buf + off - 8);
}

/* the string just written at cache[off:] (len bytes): the offset of the same string made
 * before (the new one is dropped), or `off` (added); 0 on error */
static uint32_t intern_term(Terms *t, uint32_t off, uint32_t len) {
    if ((t->count + 1) * 2 > t->tcap) {
        Py_ssize_t cap = t->tcap ? t->tcap * 2 : 1024;
        uint32_t *nt = PyMem_Calloc(cap, sizeof(uint32_t));
        if (!nt) { PyErr_NoMemory(); return 0; }
        for (Py_ssize_t k = 0; k < t->tcap; k++) {
            uint32_t o = t->table[k];
            if (!o) continue;
            size_t h = hash_bytes_seeded(t->cache.buf + o, term_header(t, o)[1], nodes_seed) &
                       (cap - 1);
            while (nt[h]) h = (h + 1) & (cap - 1);
            nt[h] = o;
        }
        PyMem_Free(t->table);
        t->table = nt;
        t->tcap = cap;
    }
    const char *p = t->cache.buf + off;
    size_t h = hash_bytes_seeded(p, len, nodes_seed) & (t->tcap - 1);
    for (uint32_t o; (o = t->table[h]); h = (h + 1) & (t->tcap - 1))
        if (term_header(t, o)[1] == len && memcmp(t->cache.buf + o, p, len) == 0) {
            t->cache.len = off - 8;
            return o;
        }
    t->table[h] = off;
    t->count++;
    return off;
}

/* make term `term`: the escaped name, and '0' and the escaped value unless vn is -1 (a term
 * for being there; an empty value is a value, and may come with a NULL pointer); a value
 * (as XML gives it, UTF-8) longer than TERM_MAX_VALUE bytes gets none */
static __attribute__((noinline)) int make_term(Terms *t, Term *term, const char *name,
                                               Py_ssize_t nn, const char *value,
                                               Py_ssize_t vn) {
    if (vn > TERM_MAX_VALUE) {
        term->len = -2;
        return 0;
    }
    Buf *cache = &t->cache;
    cache->len = (cache->len + 3) & ~(Py_ssize_t)3;  /* (the header's uint32 aligned) */
    if (buf_reserve(cache, 8 + 3 * nn + (vn >= 0 ? 1 + 3 * vn : 0)) < 0) return -1;
    if (cache->len > (Py_ssize_t)INT32_MAX - 4096) {  /* (2 GB of terms in one block) */
        PyErr_SetString(PyExc_OverflowError, "too many search terms for one node block");
        return -1;
    }
    uint32_t off = (uint32_t)cache->len + 8;
    cache->len = off;
    put_escaped(cache, name, nn);
    if (vn >= 0) {
        cache->buf[cache->len++] = '0';
        put_escaped(cache, value, vn);
    }
    uint32_t len = (uint32_t)(cache->len - off);
    uint32_t *header = term_header(t, off);
    header[0] = 0;
    header[1] = len;
    if (ambiguous(cache->buf + off, len)) {
        off = intern_term(t, off, len);
        if (!off) return -1;
        off |= TERM_SHARED;
    }
    term->off = off;
    term->len = (int32_t)len;
    return 0;
}

/* term `term` added to the sentence's terms, unless it has it (this value, or another that
 * makes the same string) */
static inline int put_term(Terms *t, Term *term) {
    if (term->stamp == t->stamp || term->len < 0) return 0;
    term->stamp = t->stamp;
    uint32_t off = term->off;
    if (off & TERM_SHARED) {
        off &= ~TERM_SHARED;
        uint32_t *header = term_header(t, off);
        if (header[0] == t->stamp) return 0;
        header[0] = t->stamp;
    }
    Buf *out = &t->out;
    if (buf_reserve(out, term->len + 1) < 0) return -1;
    char *o = out->buf + out->len;
    if (out->len) *o++ = ' ';
    memcpy(o, t->cache.buf + off, term->len);
    out->len = o + term->len - out->buf;
    return 0;
}

#endif
