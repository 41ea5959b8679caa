/* Fast path of treeindex.extract: one pass over a sentence's bytes that checks that it is
 * well-formed (_wellformed.h) and finds every <node> element, its byte span, its structure
 * and the attributes treeindex indexes, and returns the rows of the kept subtrees, numbered
 * in the task's tally (_tally.h). A sentence the check is not certain of goes to lxml's
 * check first, and is then read by read_tags below (so it is well-formed). Anything the
 * scanner does not handle exactly - comments, CDATA, processing instructions, an entity
 * reference in an attribute it reads, a namespace declaration or a prefixed name (the
 * checking parser lets undeclared prefixes pass, the tree parser does not) - makes it
 * return None, and the Python path takes over, so both paths always give the same rows
 * (the tests compare them, and tests/test_fuzz.py compares them on mutated sentences).
 * The module also holds the task splitter (_split.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "../store/_pack.h"
#include "_bytes.h"
#include "_tally.h"


typedef struct {
    Py_ssize_t start, end;
    Py_ssize_t cat, cat_n, rel, rel_n, pt, pt_n, beg, beg_n, end_attr, end_n;
    int parent, level, kids, size, height;
} Node;

static PackAPI *pack_api = NULL;

/* 1 and the value in *v when the attribute's text is an integer treeindex stores as one */
static int parse_int(const char *s, Py_ssize_t start, Py_ssize_t n, long long *v) {
    if (start < 0 || n <= 0 || n >= 18) return 0;
    long long x = 0;
    Py_ssize_t i = 0;
    int neg = 0;
    if (s[start] == '-') { neg = 1; i = 1; }
    if (i >= n) return 0;
    for (; i < n; i++) {
        char c = s[start + i];
        if (c < '0' || c > '9') return 0;
        x = x * 10 + (c - '0');
    }
    *v = neg ? -x : x;
    return 1;
}

/* a row's columns as a tuple, appended to `rows`: 0, or -1 with an exception set */
static int append_row(PyObject *rows, const PackValue *v) {
    PyObject *row = PyTuple_New(PACK_SUBTREE_COLUMNS);
    if (!row) return -1;
    for (int c = 0; c < PACK_SUBTREE_COLUMNS; c++) {
        PyObject *o;
        if (v[c].kind == PACK_INT) {
            o = PyLong_FromLongLong(v[c].i);
            if (!o) { Py_DECREF(row); return -1; }
        } else {
            o = v[c].kind == PACK_OBJECT ? v[c].o : Py_None;
            Py_INCREF(o);
        }
        PyTuple_SET_ITEM(row, c, o);
    }
    int r = PyList_Append(rows, row);
    Py_DECREF(row);
    return r;
}

/* Categories, relations and patterns repeat endlessly: interned, each is one object, which
 * pickle then sends once per result instead of once per row. */
static PyObject *interned_uncached(const char *p, Py_ssize_t n) {
    PyObject *u = PyUnicode_DecodeUTF8(p, n, "strict");
    if (u) PyUnicode_InternInPlace(&u);
    return u;
}

/* The interned strings of short values already seen (categories, relations: a few dozen),
 * found by their bytes: three per row, each of which cost a str made, hashed, looked up in
 * Python's interned dict and dropped. Kept for the process's life, at most CACHE_USED. */
#define CACHE_SLOTS 512
#define CACHE_USED 256
#define CACHE_LONGEST 24
typedef struct { unsigned char len; char text[CACHE_LONGEST]; PyObject *str; } CacheSlot;
static CacheSlot cache[CACHE_SLOTS];
static int cache_used;

static PyObject *interned(const char *p, Py_ssize_t n) {
    if (n > CACHE_LONGEST) return interned_uncached(p, n);
    for (size_t at = hash_bytes(p, n) & (CACHE_SLOTS - 1);; at = (at + 1) & (CACHE_SLOTS - 1)) {
        CacheSlot *c = &cache[at];
        if (!c->str) {  /* not seen: made, and kept while there is room */
            PyObject *u = interned_uncached(p, n);
            if (u && cache_used < CACHE_USED) {
                c->len = (unsigned char)n;
                memcpy(c->text, p, n);
                Py_INCREF(u);
                c->str = u;
                cache_used++;
            }
            return u;
        }
        if (c->len == n && same(c->text, p, n)) {
            Py_INCREF(c->str);
            return c->str;
        }
    }
}

static PyObject *text_or_none(const char *s, Py_ssize_t start, Py_ssize_t n) {
    if (start < 0) Py_RETURN_NONE;
    return interned(s + start, n);
}

/* a sentence id, or None: not interned (each is one sentence's; interning them cost a
 * look-up and an insert in Python's table of interned strings each, 1% of a worker) */
static PyObject *id_or_none(const char *s, Py_ssize_t start, Py_ssize_t n) {
    if (start < 0) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s + start, n, "strict");
}

/* Element text with the five predefined entities and character references decoded, as lxml
 * gives it; None (a new reference) for anything else (a carriage return, which XML would
 * normalize, or another entity), so that the caller falls back to lxml. */
static PyObject *decode_text(const char *p, Py_ssize_t n) {
    if (memchr(p, '\r', n)) Py_RETURN_NONE;
    if (!memchr(p, '&', n)) return PyUnicode_DecodeUTF8(p, n, "strict");
    char *out = PyMem_Malloc(n);  /* decoding only shrinks */
    if (!out) return PyErr_NoMemory();
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (p[i] != '&') { out[o++] = p[i++]; continue; }
        const char *semi = memchr(p + i, ';', n - i);
        if (!semi) goto other;
        Py_ssize_t len = semi - (p + i) + 1;  /* "&...;" */
        const char *e = p + i;
        if (len == 5 && memcmp(e, "&amp;", 5) == 0) out[o++] = '&';
        else if (len == 4 && memcmp(e, "&lt;", 4) == 0) out[o++] = '<';
        else if (len == 4 && memcmp(e, "&gt;", 4) == 0) out[o++] = '>';
        else if (len == 6 && memcmp(e, "&quot;", 6) == 0) out[o++] = '"';
        else if (len == 6 && memcmp(e, "&apos;", 6) == 0) out[o++] = '\'';
        else if (len >= 4 && e[1] == '#') {
            unsigned long cp = 0;
            int hex = e[2] == 'x', k = hex ? 3 : 2;
            if (k >= len - 1) goto other;
            for (; k < len - 1; k++) {
                char c = e[k];
                int d = (c >= '0' && c <= '9') ? c - '0'
                        : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
                if (d < 0 || cp > 0x10FFFF) goto other;
                cp = cp * (hex ? 16 : 10) + d;
            }
            /* UTF-8 encode; a reference is at least 4 bytes, its UTF-8 at most 4 */
            if (cp < 0x80) out[o++] = (char)cp;
            else if (cp < 0x800) { out[o++] = 0xC0 | (cp >> 6); out[o++] = 0x80 | (cp & 0x3F); }
            else if (cp < 0x10000) {
                out[o++] = 0xE0 | (cp >> 12); out[o++] = 0x80 | ((cp >> 6) & 0x3F);
                out[o++] = 0x80 | (cp & 0x3F);
            } else if (cp <= 0x10FFFF) {
                out[o++] = 0xF0 | (cp >> 18); out[o++] = 0x80 | ((cp >> 12) & 0x3F);
                out[o++] = 0x80 | ((cp >> 6) & 0x3F); out[o++] = 0x80 | (cp & 0x3F);
            } else goto other;
        } else goto other;
        i += len;
    }
    PyObject *u = PyUnicode_DecodeUTF8(out, o, "strict");
    PyMem_Free(out);
    return u;
other:
    PyMem_Free(out);
    Py_RETURN_NONE;
}

/* rel:cat, rel:pt or rel:- ('-' also for a missing or empty rel) */
static int append_label(char **buf, Py_ssize_t *len, Py_ssize_t *cap, const char *s,
                        const Node *nd) {
    Py_ssize_t rn = (nd->rel >= 0 && nd->rel_n > 0) ? nd->rel_n : 1;
    Py_ssize_t ln;
    const char *lab;
    if (nd->cat >= 0 && nd->cat_n > 0) { lab = s + nd->cat; ln = nd->cat_n; }
    else if (nd->pt >= 0 && nd->pt_n > 0) { lab = s + nd->pt; ln = nd->pt_n; }
    else { lab = "-"; ln = 1; }
    Py_ssize_t need = *len + rn + ln + 2;
    if (need > *cap) {
        Py_ssize_t nc = need * 2;
        char *nb = PyMem_Realloc(*buf, nc);
        if (!nb) { PyErr_NoMemory(); return -1; }
        *buf = nb; *cap = nc;
    }
    if (*len) (*buf)[(*len)++] = ' ';
    if (nd->rel >= 0 && nd->rel_n > 0) memcpy(*buf + *len, s + nd->rel, rn);
    else (*buf)[*len] = '-';
    *len += rn;
    (*buf)[(*len)++] = ':';
    memcpy(*buf + *len, lab, ln);
    *len += ln;
    return 0;
}

/* What a pass over a sentence's tags keeps: its <node> elements (structure, spans and the
 * attributes treeindex indexes), the ids, the <sentence>'s text; `fallback` when something
 * in it is not read exactly here (the Python path takes the sentence over). Filled by the
 * well-formedness check's own pass (found_* below) or, for bytes lxml checked, by read_tags. */
enum { TAG_OTHER, TAG_NODE, TAG_ROOT, TAG_SENTENCE };
typedef struct Found Found;
struct Found {
    const char *s;
    Py_ssize_t n;
    Node *nodes;
    int count;
    Py_ssize_t cap;
    int *stack;  /* the open <node> elements */
    int depth;
    Py_ssize_t stack_cap;
    Py_ssize_t root_id, root_id_n, sent_id, sent_id_n, text, text_n;
    int has_sentence, fallback, awaiting_text;
    int tag;  /* the start tag being read: TAG_* */
    Node nd;  /* its attributes, when a <node> */
};

static void found_init(Found *f, const char *s, Py_ssize_t n) {
    memset(f, 0, sizeof *f);
    f->s = s;
    f->n = n;
    f->root_id = f->sent_id = f->text = -1;
}

static void found_free(Found *f) {
    PyMem_Free(f->nodes);
    PyMem_Free(f->stack);
}

/* a start tag's name at s[name:name+len], `depth` elements deep (a <sentence>'s text,
 * when awaited, was settled at the '<' before: found_content_end) */
static void found_start(Found *f, Py_ssize_t lt, Py_ssize_t name, Py_ssize_t len, int depth) {
    const char *p = f->s + name;
    f->tag = len == 4 && same(p, "node", 4) ? TAG_NODE
             : depth == 0 && len == 9 && same(p, "alpino_ds", 9) ? TAG_ROOT
             : depth == 1 && !f->has_sentence && len == 8 && same(p, "sentence", 8)
             ? TAG_SENTENCE : TAG_OTHER;
    if (f->tag == TAG_NODE) {
        Node *nd = &f->nd;
        nd->start = lt;
        nd->cat = nd->rel = nd->pt = nd->beg = nd->end_attr = -1;
        nd->cat_n = nd->rel_n = nd->pt_n = nd->beg_n = nd->end_n = 0;
    }
}

/* 1 when a value is used as written: no reference, no whitespace XML would normalize */
static int plain_value(const char *p, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++)
        if (CLASS(p[k]) & NEEDS_DECODE) return 0;
    return 1;
}

/* an attribute of the start tag being read: its name s[as:as+an], its value s[vs:vs+vn]
 * (whether a value needs decoding is looked at only for the attributes read here) */
static void found_attribute(Found *f, Py_ssize_t as, Py_ssize_t an, Py_ssize_t vs,
                            Py_ssize_t vn) {
    const char *s = f->s, *a = s + as;
    Node *nd = &f->nd;
    Py_ssize_t *ps = NULL, *pn = NULL;  /* where the value goes, if it is one read here */
    if (f->tag == TAG_NODE) {
        if (an == 3 && same(a, "cat", 3)) { ps = &nd->cat; pn = &nd->cat_n; }
        else if (an == 3 && same(a, "rel", 3)) { ps = &nd->rel; pn = &nd->rel_n; }
        else if (an == 2 && same(a, "pt", 2)) { ps = &nd->pt; pn = &nd->pt_n; }
        else if (an == 5 && same(a, "begin", 5)) { ps = &nd->beg; pn = &nd->beg_n; }
        else if (an == 3 && same(a, "end", 3)) { ps = &nd->end_attr; pn = &nd->end_n; }
    } else if (f->tag == TAG_ROOT && an == 2 && same(a, "id", 2)) {
        ps = &f->root_id; pn = &f->root_id_n;
    } else if (f->tag == TAG_SENTENCE && an == 6 && same(a, "sentid", 6)) {
        ps = &f->sent_id; pn = &f->sent_id_n;
    }
    if (!ps) return;
    if (!plain_value(s + vs, vn)) {
        f->fallback = 1;  /* needs XML value normalization: leave it to lxml */
        return;
    }
    *ps = vs; *pn = vn;
}

/* the start tag being read ends at `end` (after its '>') */
static int found_start_end(Found *f, Py_ssize_t end, int empty) {
    if (f->tag == TAG_SENTENCE) {
        f->has_sentence = 1;
        if (!empty) {
            f->text = end;
            f->awaiting_text = 1;
        }
        return 0;
    }
    if (f->tag != TAG_NODE) return 0;
    if (f->count == f->cap) {
        Node *nn = grow_array(f->nodes, &f->cap, sizeof(Node), 64);
        if (!nn) return -1;
        f->nodes = nn;
    }
    Node *nd = &f->nd;
    int p = f->depth ? f->stack[f->depth - 1] : -1;
    nd->end = empty ? end : 0;
    nd->parent = p;
    nd->level = f->depth;
    nd->kids = 0;
    nd->size = 1;
    nd->height = 0;
    if (p >= 0) {
        f->nodes[p].kids++;
        if (f->nodes[p].height == 0) f->nodes[p].height = 1;
    }
    f->nodes[f->count++] = *nd;
    if (!empty) {
        if (f->depth == f->stack_cap) {
            int *ns = grow_array(f->stack, &f->stack_cap, sizeof(int), 32);
            if (!ns) return -1;
            f->stack = ns;
        }
        f->stack[f->depth++] = f->count - 1;
    }
    return 0;
}

/* an end tag, its name at s[name:name+len], ends at `end` */
static void found_end(Found *f, Py_ssize_t name, Py_ssize_t len, Py_ssize_t end) {
    if (!(len == 4 && same(f->s + name, "node", 4))) return;
    if (f->depth == 0) {
        f->fallback = 1;
        return;
    }
    int k = f->stack[--f->depth];
    Node *nodes = f->nodes;
    nodes[k].end = end;
    nodes[k].size = f->count - k;
    int p = nodes[k].parent;
    if (p >= 0 && nodes[p].height <= nodes[k].height) nodes[p].height = nodes[k].height + 1;
}

/* the content after a tag runs to the '<' at `lt`: the <sentence>'s text, when awaited */
static void found_content_end(Found *f, Py_ssize_t lt) {
    if (!f->awaiting_text) return;
    f->awaiting_text = 0;
    if (lt + 10 > f->n || memcmp(f->s + lt, "</sentence", 10) != 0) {
        f->fallback = 1;
        return;
    }
    f->text_n = lt - f->text;
}

#include "_wellformed.h"

/* The tags of bytes lxml has checked (so well-formed), read here as the well-formedness
 * check's pass reads certain ones: anything it does not read exactly (comments, CDATA,
 * processing instructions, a prefixed name, a namespace declaration) sets f->fallback. */
static int read_tags(Found *f, Py_ssize_t n) {
    const char *s = f->s;
    int edepth = 0;  /* element depth: 0 outside the root, 1 inside <alpino_ds> */
    Py_ssize_t i = 0;
    while (i < n) {
        i = next_lt(s, i, n);
        if (i < 0) break;
        if (i + 1 >= n) { f->fallback = 1; break; }
        char c = s[i + 1];
        if (c == '!' || c == '?') { f->fallback = 1; break; }
        if (c == '/') {
            Py_ssize_t j = i + 2;
            while (j < n && !is_space(s[j]) && s[j] != '>') j++;
            Py_ssize_t gt = j;
            while (gt < n && s[gt] != '>') gt++;
            if (gt >= n) { f->fallback = 1; break; }
            edepth--;
            found_end(f, i + 2, j - (i + 2), gt + 1);
            if (f->fallback) break;
            i = gt + 1;
            continue;
        }
        /* a start tag */
        Py_ssize_t j = i + 1;
        unsigned char seen_class = 0;
        while (j < n && !(CLASS(s[j]) & ENDS_TAG_NAME)) seen_class |= CLASS(s[j++]);
        if (seen_class & COLON) { f->fallback = 1; break; }  /* a prefix */
        found_start(f, i, i + 1, j - (i + 1), edepth);
        int empty = 0;
        for (;;) {
            while (j < n && is_space(s[j])) j++;
            if (j >= n) { f->fallback = 1; break; }
            if (s[j] == '>') { j++; break; }
            if (s[j] == '/') {
                if (j + 1 < n && s[j + 1] == '>') { empty = 1; j += 2; break; }
                f->fallback = 1;
                break;
            }
            Py_ssize_t as = j;
            seen_class = 0;
            while (j < n && !(CLASS(s[j]) & ENDS_ATTR_NAME)) seen_class |= CLASS(s[j++]);
            Py_ssize_t an = j - as;
            if (seen_class & COLON) { f->fallback = 1; break; }  /* a prefixed attribute */
            while (j < n && is_space(s[j])) j++;
            if (j >= n || s[j] != '=') { f->fallback = 1; break; }
            j++;
            while (j < n && is_space(s[j])) j++;
            if (j >= n || (s[j] != '"' && s[j] != '\'')) { f->fallback = 1; break; }
            unsigned char quote = s[j++] == '"' ? DQUOTE : SQUOTE;
            Py_ssize_t vs = j;
            while (j < n && !(CLASS(s[j]) & quote)) j++;  /* the value's end */
            if (j >= n) { f->fallback = 1; break; }
            Py_ssize_t vn = j - vs;
            j++;
            if (an >= 5 && same(s + as, "xmlns", 5) && (an == 5 || s[as + 5] == ':')) {
                f->fallback = 1;  /* namespaces change what lxml calls a node: leave it to lxml */
                break;
            }
            found_attribute(f, as, an, vs, vn);
            if (f->fallback) break;
        }
        if (f->fallback) break;
        if (!empty) edepth++;
        if (found_start_end(f, j, empty) < 0) return -1;
        if (f->awaiting_text) {
            /* its text runs to the next tag, which must be its end tag */
            const char *lt2 = memchr(s + j, '<', n - j);
            if (!lt2 || (lt2 - s) + 10 > n) { f->fallback = 1; break; }
            found_content_end(f, lt2 - s);
            if (f->fallback) break;
        }
        i = j;
    }
    return 0;  /* (unclosed <node>s: scan() hands the sentence over) */
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    int max_children, max_nodes, index, verify = 0;
    Tally *tally;
    PyObject *packer = Py_None;
    if (!PyArg_ParseTuple(args, "y*iiiO!|pO", &view, &max_children, &max_nodes, &index,
                          &TallyType, &tally, &verify, &packer))
        return NULL;
    if (packer != Py_None && !pack_api) {
        pack_api = (PackAPI *)PyCapsule_Import(PACK_CAPSULE, 0);
        if (!pack_api) {
            PyBuffer_Release(&view);
            return NULL;
        }
    }
    if (packer != Py_None && !pack_api->is_packer(packer)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "packer must be a treeindex.store._pack.Packer");
        return NULL;
    }
    long long packed = 0;  /* rows made */
    const char *s = view.buf;
    Py_ssize_t n = view.len;
    Found found;
    found_init(&found, s, n);
    PyObject *rows = NULL, *result = NULL;
    char *pbuf = NULL;
    Py_ssize_t pcap = 0;
    if (verify) {  /* the check's pass reads the tags too */
        int r = wellformed_pass((const unsigned char *)s, n, &found);
        if (r < 0) goto error;
        if (r == 0) {
            found_free(&found);
            PyBuffer_Release(&view);
            Py_RETURN_FALSE;  /* not certainly well-formed: lxml checks it */
        }
        if (s[0] == '<' && s[1] == '?') found.fallback = 1;  /* an XML declaration */
    } else if (read_tags(&found, n) < 0) {
        goto error;
    }
    if (found.fallback || found.depth != 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    Node *nodes = found.nodes;
    int count = found.count;
    Py_ssize_t text = found.text, text_n = found.text_n;

    /* everything that can hand the sentence over happens before rows and counts change */
    PyObject *text_obj;
    if (text >= 0 && text_n > 0) {
        text_obj = decode_text(s + text, text_n);
        if (!text_obj) goto error;
        if (text_obj == Py_None) {  /* something decode_text does not handle */
            result = text_obj;
            goto done;
        }
    } else {
        text_obj = Py_None;
        Py_INCREF(text_obj);
    }
    rows = PyList_New(0);
    if (!rows) { Py_DECREF(text_obj); goto error; }
    tally->stamp++;  /* (another sentence's categories) */
    for (int k = 0; k < count; k++) {
        Node *nd = &nodes[k];
        if (nd->cat < 0 || nd->kids < 1 || nd->kids > max_children || nd->size > max_nodes)
            continue;
        Py_ssize_t plen = 0;
        int stop = k + nd->size;
        for (int c2 = k + 1; c2 < stop; c2 += nodes[c2].size)
            if (append_label(&pbuf, &plen, &pcap, s, &nodes[c2]) < 0) {
                Py_DECREF(text_obj);
                goto error;
            }
        int p = nd->parent;
        long long local_n = tally_subtree(tally, s + nd->cat, nd->cat_n);  /* its number */
        long long pattern = local_n < 0 ? -1 : tally_pattern(tally, pbuf, plen);
        PyObject *cat = local_n < 0 || pattern < 0 ? NULL : text_or_none(s, nd->cat, nd->cat_n);
        if (!cat) { Py_DECREF(text_obj); goto error; }
        /* the row's columns, made once: into the task's image (a packer), or as a tuple */
        PackValue v[PACK_SUBTREE_COLUMNS];
        PyObject *held[4] = {NULL, NULL, NULL, NULL};  /* objects made for this row */
        int ok = 1;
        memset(v, 0, sizeof v);
        v[0].kind = PACK_INT; v[0].i = index;
        v[1].kind = PACK_OBJECT; v[1].o = cat;
        v[2].kind = PACK_INT; v[2].i = local_n;
        v[3].kind = PACK_INT; v[3].i = k;
        if (nd->rel >= 0) {
            held[0] = interned(s + nd->rel, nd->rel_n);
            v[4].kind = PACK_OBJECT; v[4].o = held[0];
            ok = held[0] != NULL;
        }
        Py_ssize_t at[2] = {nd->beg, nd->end_attr}, len[2] = {nd->beg_n, nd->end_n};
        for (int b = 0; ok && b < 2; b++) {  /* begin, end: an int when they are one */
            if (at[b] < 0) continue;
            if (parse_int(s, at[b], len[b], &v[5 + b].i)) {
                v[5 + b].kind = PACK_INT;
            } else {
                held[1 + b] = PyUnicode_DecodeUTF8(s + at[b], len[b], "strict");
                v[5 + b].kind = PACK_OBJECT; v[5 + b].o = held[1 + b];
                ok = held[1 + b] != NULL;
            }
        }
        v[7].kind = PACK_INT; v[7].i = nd->kids;
        v[8].kind = PACK_INT; v[8].i = nd->size;
        v[9].kind = PACK_INT; v[9].i = nd->height;
        v[10].kind = PACK_INT; v[10].i = nd->level;
        if (ok && p >= 0 && nodes[p].cat >= 0) {
            held[3] = interned(s + nodes[p].cat, nodes[p].cat_n);
            v[11].kind = PACK_OBJECT; v[11].o = held[3];
            ok = held[3] != NULL;
        }
        v[12].kind = PACK_INT; v[12].i = pattern;
        v[13].kind = PACK_INT; v[13].i = nd->start;
        v[14].kind = PACK_INT; v[14].i = nd->end;
        if (ok)
            ok = (packer != Py_None ? pack_api->add_subtree(packer, v) : append_row(rows, v)) == 0;
        for (int h = 0; h < 4; h++) Py_XDECREF(held[h]);
        Py_DECREF(cat);
        if (!ok) { Py_DECREF(text_obj); goto error; }
        packed++;
    }
    if (packer != Py_None) {  /* the rows are in the image: their number instead */
        Py_DECREF(rows);
        rows = PyLong_FromLongLong(packed);
        if (!rows) { Py_DECREF(text_obj); goto error; }
    }
    result = Py_BuildValue("(iNNNNi)", count, rows, id_or_none(s, found.root_id, found.root_id_n),
                           id_or_none(s, found.sent_id, found.sent_id_n), text_obj,
                           found.has_sentence);
    rows = NULL;
    goto done;

error:
    Py_XDECREF(rows);
    result = NULL;
done:
    found_free(&found);
    PyMem_Free(pbuf);
    PyBuffer_Release(&view);
    return result;
}

#include "_split.h"

static PyObject *wellformed(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    int ok = ti_wellformed(view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

static PyObject *seed_of_tallies(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(tally_seed);
}

static PyMethodDef methods[] = {
    {"tally_seed", seed_of_tallies, METH_NOARGS,
     "tally_seed() -> the seed this process's tallies hash with (drawn per process)"},
    {"wellformed", wellformed, METH_VARARGS,
     "wellformed(xml) -> True when the UTF-8 bytes are certainly well-formed XML as lxml's\n"
     "checking parser sees them; False when not certain (lxml must check them)."},
    {"find_special", find_special, METH_VARARGS,
     "find_special(data, start, end) -> first '<!' or '<?' in data[start:end], or -1."},
    {"split", split, METH_VARARGS,
     "split(data, start, limit) -> ([(start, next, end or -1, line), ...], newlines), or None\n"
     "where a comment, CDATA, PI or DOCTYPE is in data[start:limit] (see sources/split.py)."},
    {"scan", scan, METH_VARARGS,
     "scan(xml, max_children, max_nodes, index, tally, verify=False, packer=None) ->\n"
     "(node count, rows,\n"
     "alpino_ds/@id, sentence/@sentid, sentence text, has <sentence>)\n"
     "or None; False when verify is set and wellformed(xml) is not certain.\n\n"
     "tally (a Tally) numbers each category's subtrees and each children pattern; it is\n"
     "only changed when the sentence is not handed over (None).\n\n"
     "rows: (index, cat, n, node, rel, begin, end, children, nodes, depth, level, parent_cat,\n"
     "pattern, xml_start, xml_end) for every kept <node>, in document order; pattern is\n"
     "the pattern's number in the tally. With a `packer` (treeindex.store._pack.Packer) the\n"
     "rows go into it instead, and rows is their number."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan",
                                    "Fast node scanner for treeindex.extract.", -1, methods};

PyMODINIT_FUNC PyInit__scan(void) {
    if (draw_seed("treeindex tally", &tally_seed) < 0 || PyType_Ready(&TallyType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&TallyType);
    if (PyModule_AddObject(m, "Tally", (PyObject *)&TallyType) < 0) {
        Py_DECREF(&TallyType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
