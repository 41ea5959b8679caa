/* The byte helpers of the scans over a sentence's bytes (worker/_scan.c, the scanner, and
 * search/_nodes.c, the node block builder): their inner loops look bytes up in one class
 * table and compare short names inline, instead of four to six compares per byte and a
 * libc memchr or memcmp call for a few bytes each (stop 32: 0.39 CPU-s less per 100 MB). */
#ifndef TREEINDEX_BYTES_H
#define TREEINDEX_BYTES_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* equal bytes, for the short names and values compared here */
static inline int same(const char *a, const char *b, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++)
        if (a[k] != b[k]) return 0;
    return 1;
}

/* byte classes: a name's end and whether it holds a ':' in one loop; a value's end and
 * whether it needs decoding in another */
#define ENDS_TAG_NAME 1   /* whitespace, '>', '/' */
#define ENDS_ATTR_NAME 2  /* those and '=' */
#define COLON 4
#define NEEDS_DECODE 8    /* in a value: '&', or whitespace XML normalizes */
#define DQUOTE 16
#define SQUOTE 32
static const unsigned char byte_class[256] = {
    [' '] = ENDS_TAG_NAME | ENDS_ATTR_NAME,
    ['\t'] = ENDS_TAG_NAME | ENDS_ATTR_NAME | NEEDS_DECODE,
    ['\n'] = ENDS_TAG_NAME | ENDS_ATTR_NAME | NEEDS_DECODE,
    ['\r'] = ENDS_TAG_NAME | ENDS_ATTR_NAME | NEEDS_DECODE,
    ['>'] = ENDS_TAG_NAME | ENDS_ATTR_NAME, ['/'] = ENDS_TAG_NAME | ENDS_ATTR_NAME,
    ['='] = ENDS_ATTR_NAME, [':'] = COLON, ['&'] = NEEDS_DECODE,
    ['"'] = DQUOTE, ['\''] = SQUOTE,
};
#define CLASS(c) byte_class[(unsigned char)(c)]

/* the next '<' from i, or -1: the next tag is usually a few bytes on (a newline and an
 * indent), where a loop beats memchr's call */
static inline Py_ssize_t next_lt(const char *s, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t stop = i + 16 < n ? i + 16 : n;
    for (; i < stop; i++)
        if (s[i] == '<') return i;
    if (i >= n) return -1;
    const char *lt = memchr(s + i, '<', n - i);
    return lt ? lt - s : -1;
}

/* a hash of n bytes, eight at a time (the scanner's interned strings, the node builder's
 * search terms, the tally); a byte-at-a-time FNV-1a was a chain of multiplies, one per
 * byte. `seed` starts the state: a table that input fills without bound takes a seed drawn
 * per process (draw_seed) (with seed 0 this is hash_bytes) */
static inline size_t hash_bytes_seeded(const char *p, Py_ssize_t n, uint64_t seed) {
    uint64_t h = (0x9E3779B97F4A7C15ULL * (uint64_t)(n + 1)) ^ seed;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (Py_ssize_t k = 0; k < n; k++) w |= (uint64_t)(unsigned char)p[k] << (8 * k);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    return (size_t)(h ^ (h >> 29));
}

/* a full array of `size`-byte items made twice as large (`first` items when it has none):
 * the new pointer, *cap updated; NULL with an exception set (the old array kept) */
static inline void *grow_array(void *items, Py_ssize_t *cap, size_t size, Py_ssize_t first) {
    Py_ssize_t c = *cap ? *cap * 2 : first;
    void *p = PyMem_Realloc(items, (size_t)c * size);
    if (!p) { PyErr_NoMemory(); return NULL; }
    *cap = c;
    return p;
}

/* the first `mark` (len bytes) that lies wholly in s[from:n], or -1 */
static inline Py_ssize_t find_mark(const char *s, Py_ssize_t from, Py_ssize_t n, const char *mark,
                                   Py_ssize_t len) {
    for (Py_ssize_t k = from; k + len <= n;) {
        const char *h = memchr(s + k, mark[0], n - k);
        if (!h || (h - s) + len > n) return -1;
        if (memcmp(h, mark, len) == 0) return h - s;
        k = h - s + 1;
    }
    return -1;
}

static inline size_t hash_bytes(const char *p, Py_ssize_t n) {
    return hash_bytes_seeded(p, n, 0);
}

/* a seed for the tables input fills without bound (the tally, the node builder's values
 * and terms), drawn from Python's hash secret: per process unless PYTHONHASHSEED fixes it,
 * so that nobody can prepare keys that all fall into one probe chain. Nothing those tables
 * give out may depend on it. 0, or -1 with an exception set. */
static int draw_seed(const char *label, uint64_t *seed) {
    PyObject *b = PyBytes_FromString(label);
    Py_hash_t h = b ? PyObject_Hash(b) : -1;  /* (SipHash with this process's secret) */
    Py_XDECREF(b);
    if (h == -1 && PyErr_Occurred()) return -1;
    *seed = (uint64_t)h * 0x9E3779B97F4A7C15ULL;
    return 0;
}

#endif
