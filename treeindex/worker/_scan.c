/* Fast path of treeindex.extract: one pass over a sentence's bytes that finds every <node>
 * element, its byte span, its structure and the attributes treeindex indexes, and returns
 * the rows of the kept subtrees.
 *
 * It runs only on sentences lxml has already checked (so they are well-formed). Anything
 * it does not handle exactly - comments, CDATA, processing instructions, an entity reference
 * in an attribute it reads, a namespace declaration or a prefixed name (the checking parser
 * lets undeclared prefixes pass, the tree parser does not) - makes it return None, and the
 * Python path takes over, so both paths always give the same rows (the tests compare them,
 * and tests/test_fuzz.py compares them on mutated sentences).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    Py_ssize_t start, end;
    Py_ssize_t cat, cat_n, rel, rel_n, pt, pt_n, beg, beg_n, end_attr, end_n;
    int parent, level, kids, size, height;
} Node;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* value of an integer attribute: an int when it is one, else the text */
static PyObject *int_or_text(const char *s, Py_ssize_t start, Py_ssize_t n) {
    if (start < 0) Py_RETURN_NONE;
    if (n > 0 && n < 18) {
        long long v = 0;
        Py_ssize_t i = 0;
        int neg = 0;
        if (s[start] == '-') { neg = 1; i = 1; }
        if (i < n) {
            for (; i < n; i++) {
                char c = s[start + i];
                if (c < '0' || c > '9') break;
                v = v * 10 + (c - '0');
            }
            if (i == n) return PyLong_FromLongLong(neg ? -v : v);
        }
    }
    return PyUnicode_DecodeUTF8(s + start, n, "strict");
}

/* Categories, relations and patterns repeat endlessly: interned, each is one object, which
 * pickle then sends once per result instead of once per row. */
static PyObject *interned(const char *p, Py_ssize_t n) {
    PyObject *u = PyUnicode_DecodeUTF8(p, n, "strict");
    if (u) PyUnicode_InternInPlace(&u);
    return u;
}

static PyObject *text_or_none(const char *s, Py_ssize_t start, Py_ssize_t n) {
    if (start < 0) Py_RETURN_NONE;
    return interned(s + start, n);
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

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    int max_children, max_nodes, index;
    PyObject *counts;
    if (!PyArg_ParseTuple(args, "y*iiiO!", &view, &max_children, &max_nodes, &index,
                          &PyDict_Type, &counts))
        return NULL;
    const char *s = view.buf;
    Py_ssize_t n = view.len;
    Node *nodes = NULL;
    int *stack = NULL;
    int count = 0, cap = 0, depth = 0, stack_cap = 0;
    PyObject *rows = NULL, *result = NULL;
    char *pbuf = NULL;
    Py_ssize_t pcap = 0;
    int fallback = 0;
    int edepth = 0;  /* element depth: 0 outside the root, 1 inside <alpino_ds> */
    Py_ssize_t root_id = -1, root_id_n = 0, sent_id = -1, sent_id_n = 0;
    Py_ssize_t text = -1, text_n = 0;
    int has_sentence = 0;

    Py_ssize_t i = 0;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt) break;
        i = lt - s;
        if (i + 1 >= n) { fallback = 1; break; }
        char c = s[i + 1];
        if (c == '!' || c == '?') { fallback = 1; break; }
        if (c == '/') {
            Py_ssize_t j = i + 2;
            while (j < n && !is_space(s[j]) && s[j] != '>') j++;
            int is_node = (j - (i + 2) == 4 && memcmp(s + i + 2, "node", 4) == 0);
            const char *gt = memchr(s + j, '>', n - j);
            if (!gt) { fallback = 1; break; }
            Py_ssize_t e = gt - s + 1;
            edepth--;
            if (is_node) {
                if (depth == 0) { fallback = 1; break; }
                int k = stack[--depth];
                nodes[k].end = e;
                nodes[k].size = count - k;
                int p = nodes[k].parent;
                if (p >= 0 && nodes[p].height <= nodes[k].height)
                    nodes[p].height = nodes[k].height + 1;
            }
            i = e;
            continue;
        }
        /* a start tag */
        Py_ssize_t j = i + 1;
        while (j < n && !is_space(s[j]) && s[j] != '>' && s[j] != '/') j++;
        if (memchr(s + i + 1, ':', j - (i + 1))) { fallback = 1; break; }  /* a prefix */
        int is_node = (j - (i + 1) == 4 && memcmp(s + i + 1, "node", 4) == 0);
        int is_root = edepth == 0 && j - (i + 1) == 9 && memcmp(s + i + 1, "alpino_ds", 9) == 0;
        int is_sentence = edepth == 1 && !has_sentence && j - (i + 1) == 8 &&
                          memcmp(s + i + 1, "sentence", 8) == 0;
        Node nd;
        nd.cat = nd.rel = nd.pt = nd.beg = nd.end_attr = -1;
        nd.cat_n = nd.rel_n = nd.pt_n = nd.beg_n = nd.end_n = 0;
        int empty = 0, bad = 0;
        for (;;) {
            while (j < n && is_space(s[j])) j++;
            if (j >= n) { bad = 1; break; }
            if (s[j] == '>') { j++; break; }
            if (s[j] == '/') {
                if (j + 1 < n && s[j + 1] == '>') { empty = 1; j += 2; break; }
                bad = 1; break;
            }
            Py_ssize_t as = j;
            while (j < n && s[j] != '=' && !is_space(s[j]) && s[j] != '>' && s[j] != '/') j++;
            Py_ssize_t an = j - as;
            if (memchr(s + as, ':', an)) { bad = 1; break; }  /* a prefixed attribute */
            while (j < n && is_space(s[j])) j++;
            if (j >= n || s[j] != '=') { bad = 1; break; }
            j++;
            while (j < n && is_space(s[j])) j++;
            if (j >= n || (s[j] != '"' && s[j] != '\'')) { bad = 1; break; }
            char q = s[j++];
            const char *qe = memchr(s + j, q, n - j);
            if (!qe) { bad = 1; break; }
            Py_ssize_t vs = j, vn = qe - s - j;
            j = qe - s + 1;
            if (an >= 5 && memcmp(s + as, "xmlns", 5) == 0 && (an == 5 || s[as + 5] == ':')) {
                bad = 1;  /* namespaces change what lxml calls a node: leave it to lxml */
                break;
            }
            if (is_root || is_sentence) {
                int is_id = is_root ? (an == 2 && memcmp(s + as, "id", 2) == 0)
                                    : (an == 6 && memcmp(s + as, "sentid", 6) == 0);
                if (is_id) {
                    if (memchr(s + vs, '&', vn) || memchr(s + vs, '\n', vn) ||
                        memchr(s + vs, '\t', vn) || memchr(s + vs, '\r', vn)) {
                        bad = 1;
                        break;
                    }
                    if (is_root) { root_id = vs; root_id_n = vn; }
                    else { sent_id = vs; sent_id_n = vn; }
                }
                continue;
            }
            if (!is_node) continue;
            Py_ssize_t *ps = NULL, *pn = NULL;
            if (an == 3 && memcmp(s + as, "cat", 3) == 0) { ps = &nd.cat; pn = &nd.cat_n; }
            else if (an == 3 && memcmp(s + as, "rel", 3) == 0) { ps = &nd.rel; pn = &nd.rel_n; }
            else if (an == 2 && memcmp(s + as, "pt", 2) == 0) { ps = &nd.pt; pn = &nd.pt_n; }
            else if (an == 5 && memcmp(s + as, "begin", 5) == 0) { ps = &nd.beg; pn = &nd.beg_n; }
            else if (an == 3 && memcmp(s + as, "end", 3) == 0) { ps = &nd.end_attr; pn = &nd.end_n; }
            if (ps) {
                if (memchr(s + vs, '&', vn) || memchr(s + vs, '\n', vn) ||
                    memchr(s + vs, '\t', vn) || memchr(s + vs, '\r', vn)) {
                    bad = 1;  /* needs XML value normalization: leave it to lxml */
                    break;
                }
                *ps = vs; *pn = vn;
            }
        }
        if (bad) { fallback = 1; break; }
        if (!empty) edepth++;
        if (is_sentence) {
            has_sentence = 1;
            if (!empty) {
                /* its text runs to the next tag, which must be its end tag */
                const char *lt2 = memchr(s + j, '<', n - j);
                if (!lt2 || (lt2 - s) + 10 > n || memcmp(lt2, "</sentence", 10) != 0) {
                    fallback = 1;
                    break;
                }
                text = j;
                text_n = (lt2 - s) - j;
            }
        }
        if (is_node) {
            if (count == cap) {
                cap = cap ? cap * 2 : 64;
                Node *nn = PyMem_Realloc(nodes, cap * sizeof(Node));
                if (!nn) { PyErr_NoMemory(); goto error; }
                nodes = nn;
            }
            int p = depth ? stack[depth - 1] : -1;
            nd.start = i;
            nd.end = empty ? j : 0;
            nd.parent = p;
            nd.level = depth;
            nd.kids = 0;
            nd.size = 1;
            nd.height = 0;
            if (p >= 0) {
                nodes[p].kids++;
                if (nodes[p].height == 0) nodes[p].height = 1;
            }
            nodes[count++] = nd;
            if (!empty) {
                if (depth == stack_cap) {
                    stack_cap = stack_cap ? stack_cap * 2 : 32;
                    int *ns = PyMem_Realloc(stack, stack_cap * sizeof(int));
                    if (!ns) { PyErr_NoMemory(); goto error; }
                    stack = ns;
                }
                stack[depth++] = count - 1;
            }
        }
        i = j;
    }
    if (fallback || depth != 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }

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
    /* categories already counted for this sentence (any number of them) */
    PyObject *seen = PySet_New(NULL);
    if (!seen) { Py_DECREF(text_obj); goto error; }
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
        PyObject *cat = text_or_none(s, nd->cat, nd->cat_n);
        if (!cat) { Py_DECREF(seen); Py_DECREF(text_obj); goto error; }
        /* number it: counts[cat] = [subtrees, sentences] */
        PyObject *c = PyDict_GetItemWithError(counts, cat);
        if (!c) {
            if (PyErr_Occurred() || !(c = Py_BuildValue("[ii]", 0, 0)) ||
                PyDict_SetItem(counts, cat, c) < 0) {
                Py_XDECREF(c); Py_DECREF(cat); Py_DECREF(seen); Py_DECREF(text_obj);
                goto error;
            }
            Py_DECREF(c);  /* the dict holds it */
        }
        long local_n = PyLong_AsLong(PyList_GET_ITEM(c, 0)) + 1;
        PyList_SetItem(c, 0, PyLong_FromLong(local_n));
        int first = PySet_Contains(seen, cat) == 0;
        if (first) {
            if (PySet_Add(seen, cat) < 0) {
                Py_DECREF(cat); Py_DECREF(seen); Py_DECREF(text_obj); goto error;
            }
            long sents = PyLong_AsLong(PyList_GET_ITEM(c, 1)) + 1;
            PyList_SetItem(c, 1, PyLong_FromLong(sents));
        }
        PyObject *row = PyTuple_New(15);
        if (!row) { Py_DECREF(cat); Py_DECREF(seen); Py_DECREF(text_obj); goto error; }
        PyTuple_SET_ITEM(row, 0, PyLong_FromLong(index));
        PyTuple_SET_ITEM(row, 1, cat);
        PyTuple_SET_ITEM(row, 2, PyLong_FromLong(local_n));
        PyTuple_SET_ITEM(row, 3, PyLong_FromLong(k));
        PyTuple_SET_ITEM(row, 4, text_or_none(s, nd->rel, nd->rel_n));
        PyTuple_SET_ITEM(row, 5, int_or_text(s, nd->beg, nd->beg_n));
        PyTuple_SET_ITEM(row, 6, int_or_text(s, nd->end_attr, nd->end_n));
        PyTuple_SET_ITEM(row, 7, PyLong_FromLong(nd->kids));
        PyTuple_SET_ITEM(row, 8, PyLong_FromLong(nd->size));
        PyTuple_SET_ITEM(row, 9, PyLong_FromLong(nd->height));
        PyTuple_SET_ITEM(row, 10, PyLong_FromLong(nd->level));
        if (p >= 0) {
            PyTuple_SET_ITEM(row, 11, text_or_none(s, nodes[p].cat, nodes[p].cat_n));
        } else {
            Py_INCREF(Py_None);
            PyTuple_SET_ITEM(row, 11, Py_None);
        }
        PyTuple_SET_ITEM(row, 12, interned(pbuf ? pbuf : "", plen));
        PyTuple_SET_ITEM(row, 13, PyLong_FromSsize_t(nd->start));
        PyTuple_SET_ITEM(row, 14, PyLong_FromSsize_t(nd->end));
        for (int q = 0; q < 15; q++)
            if (!PyTuple_GET_ITEM(row, q)) {
                Py_DECREF(row); Py_DECREF(seen); Py_DECREF(text_obj); goto error;
            }
        if (PyList_Append(rows, row) < 0) {
            Py_DECREF(row); Py_DECREF(seen); Py_DECREF(text_obj); goto error;
        }
        Py_DECREF(row);
    }
    Py_DECREF(seen);
    result = Py_BuildValue("(iNNNNi)", count, rows, text_or_none(s, root_id, root_id_n),
                           text_or_none(s, sent_id, sent_id_n), text_obj, has_sentence);
    rows = NULL;
    goto done;

error:
    Py_XDECREF(rows);
    result = NULL;
done:
    PyMem_Free(nodes);
    PyMem_Free(stack);
    PyMem_Free(pbuf);
    PyBuffer_Release(&view);
    return result;
}

/* find_special(data, start, end) -> position of the first "<!" or "<?" in [start, end), or -1.
 * Both marks are rare in treebanks, so this runs at memchr speed over '!' and '?'. */
static PyObject *find_special(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end)) return NULL;
    const char *s = view.buf;
    if (end > view.len) end = view.len;
    if (start < 0) start = 0;
    Py_ssize_t best = -1;
    const char marks[2] = {'!', '?'};
    for (int m = 0; m < 2; m++) {
        Py_ssize_t i = start + 1, stop = best >= 0 ? best : end;
        while (i < stop) {
            const char *hit = memchr(s + i, marks[m], stop - i);
            if (!hit) break;
            Py_ssize_t h = hit - s;
            if (s[h - 1] == '<') { best = h - 1; break; }
            i = h + 1;
        }
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(best);
}

static PyMethodDef methods[] = {
    {"find_special", find_special, METH_VARARGS,
     "find_special(data, start, end) -> first '<!' or '<?' in data[start:end], or -1."},
    {"scan", scan, METH_VARARGS,
     "scan(xml, max_children, max_nodes, index, counts) -> (node count, rows,\n"
     "alpino_ds/@id, sentence/@sentid, sentence text, has <sentence>) or None.\n\n"
     "counts (cat -> [subtrees, sentences]) numbers each category's subtrees; it is only\n"
     "changed when the sentence is not handed over (None).\n\n"
     "rows: (index, cat, n, node, rel, begin, end, children, nodes, depth, level, parent_cat,\n"
     "pattern, xml_start, xml_end) for every kept <node>, in document order."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan",
                                    "Fast node scanner for treeindex.extract.", -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
