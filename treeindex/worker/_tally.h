/* A task's numbering of its subtree rows, kept in C (the scanner's `Tally`, worker/_scan.c):
 * per category the subtrees and the sentences counted so far (a row's number n is the
 * next), and per children pattern its number (1, 2, ... in order of first appearance). A
 * row finds its category and its pattern by their bytes: no Python string is made, hashed
 * and looked up in a dict for either (dicts, until stop 42, cost 9 ms per 25 MB).
 *
 * The pure-Python path numbers through the same object (its methods), so a task whose
 * sentences go either way is numbered as one. worker/scan.py has the Python twin, for
 * installs without the C extension.
 */
#ifndef TREEINDEX_TALLY_H
#define TREEINDEX_TALLY_H

#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "_bytes.h"

typedef struct {
    char *text;
    Py_ssize_t len;
    size_t hash;
    long long subtrees, sentences;  /* a category's */
    long long stamp;  /* a category's: the sentence it was last counted in */
} Entry;  /* (a pattern's number is its place in the table's items, + 1) */

/* the tables' hash seed, drawn once per process (draw_seed, at the module's import): input
 * fills them without bound, so colliding keys must not be something one can prepare (the
 * dicts they replace had Python's randomized hash); nothing the tally returns depends on it */
static uint64_t tally_seed;

/* entries in order of first appearance, found through an open-addressing index */
typedef struct {
    Entry *items;
    Py_ssize_t used, cap;
    int32_t *index;  /* positions in items; -1: empty */
    Py_ssize_t mask;  /* the index's size - 1 (a power of two; no index yet: 0) */
} Table;

static void table_free(Table *t) {
    for (Py_ssize_t k = 0; k < t->used; k++) PyMem_Free(t->items[k].text);
    PyMem_Free(t->items);
    PyMem_Free(t->index);
    memset(t, 0, sizeof *t);
}

static int table_reindex(Table *t, Py_ssize_t size) {
    int32_t *index = PyMem_Malloc(size * sizeof(int32_t));
    if (!index) { PyErr_NoMemory(); return -1; }
    memset(index, 0xFF, size * sizeof(int32_t));
    for (Py_ssize_t k = 0; k < t->used; k++) {
        size_t at = t->items[k].hash & (size - 1);
        while (index[at] >= 0) at = (at + 1) & (size - 1);
        index[at] = (int32_t)k;
    }
    PyMem_Free(t->index);
    t->index = index;
    t->mask = size - 1;
    return 0;
}

/* the entry of these bytes, added (zeroed) if new; NULL with an exception set */
static Entry *table_get(Table *t, const char *p, Py_ssize_t n) {
    size_t h = hash_bytes_seeded(p, n, tally_seed);
    if (t->index) {
        for (size_t at = h & t->mask;; at = (at + 1) & t->mask) {
            int32_t k = t->index[at];
            if (k < 0) break;
            Entry *e = &t->items[k];
            if (e->hash == h && e->len == n && memcmp(e->text, p, n) == 0) return e;
        }
    }
    if (t->used >= INT32_MAX / 4) { PyErr_NoMemory(); return NULL; }
    /* the index at most half full */
    if ((t->used + 1) * 2 > t->mask + 1 &&
        table_reindex(t, t->index ? (t->mask + 1) * 2 : 128) < 0)
        return NULL;
    if (t->used == t->cap) {
        Entry *items = grow_array(t->items, &t->cap, sizeof(Entry), 64);
        if (!items) return NULL;
        t->items = items;
    }
    char *text = PyMem_Malloc(n ? n : 1);
    if (!text) { PyErr_NoMemory(); return NULL; }
    memcpy(text, p, n);
    Entry *e = &t->items[t->used];
    memset(e, 0, sizeof *e);
    e->text = text;
    e->len = n;
    e->hash = h;
    size_t at = h & t->mask;
    while (t->index[at] >= 0) at = (at + 1) & t->mask;
    t->index[at] = (int32_t)t->used++;
    return e;
}

typedef struct {
    PyObject_HEAD
    Table cats, patterns;
    long long stamp;  /* the sentence being numbered */
} Tally;

static PyTypeObject TallyType;

/* one more subtree of the category `cat` (n bytes) in the sentence being numbered: its
 * number, or -1 with an exception set */
static long long tally_subtree(Tally *t, const char *cat, Py_ssize_t n) {
    Entry *e = table_get(&t->cats, cat, n);
    if (!e) return -1;
    if (e->stamp != t->stamp) {
        e->stamp = t->stamp;
        e->sentences++;
    }
    return ++e->subtrees;
}

/* the number of a children pattern, added if new; -1 with an exception set */
static long long tally_pattern(Tally *t, const char *p, Py_ssize_t n) {
    Entry *e = table_get(&t->patterns, p ? p : "", n);
    return e ? (long long)(e - t->patterns.items) + 1 : -1;
}

static void Tally_dealloc(PyObject *self) {
    Tally *t = (Tally *)self;
    table_free(&t->cats);
    table_free(&t->patterns);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *Tally_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "Tally() takes no arguments");
        return NULL;
    }
    return type->tp_alloc(type, 0);
}

static PyObject *Tally_sentence(PyObject *self, PyObject *unused) {
    ((Tally *)self)->stamp++;
    Py_RETURN_NONE;
}

/* the Python path's numbering: `number` (tally_subtree or tally_pattern) of a str's UTF-8 */
static PyObject *number_of(PyObject *self, PyObject *text,
                           long long (*number)(Tally *, const char *, Py_ssize_t)) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(text, &n);
    long long k = p ? number((Tally *)self, p, n) : -1;
    return k < 0 ? NULL : PyLong_FromLongLong(k);
}

static PyObject *Tally_subtree(PyObject *self, PyObject *cat) {
    return number_of(self, cat, tally_subtree);
}

static PyObject *Tally_pattern(PyObject *self, PyObject *text) {
    return number_of(self, text, tally_pattern);
}

/* {text: value_of(its entry, its place)} of a table's entries, in order of first appearance */
static PyObject *table_dict(const Table *t, PyObject *(*value_of)(const Entry *, Py_ssize_t)) {
    PyObject *out = PyDict_New();
    for (Py_ssize_t k = 0; out && k < t->used; k++) {
        const Entry *e = &t->items[k];
        PyObject *text = PyUnicode_DecodeUTF8(e->text, e->len, "strict");
        PyObject *value = text ? value_of(e, k) : NULL;
        if (!value || PyDict_SetItem(out, text, value) < 0) Py_CLEAR(out);
        Py_XDECREF(text);
        Py_XDECREF(value);
    }
    return out;
}

static PyObject *counts_of(const Entry *e, Py_ssize_t k) {
    return Py_BuildValue("[LL]", e->subtrees, e->sentences);
}

static PyObject *number_at(const Entry *e, Py_ssize_t k) {
    return PyLong_FromSsize_t(k + 1);
}

static PyObject *Tally_counts(PyObject *self, PyObject *unused) {
    return table_dict(&((Tally *)self)->cats, counts_of);
}

static PyObject *Tally_patterns(PyObject *self, PyObject *unused) {
    return table_dict(&((Tally *)self)->patterns, number_at);
}

static PyMethodDef Tally_methods[] = {
    {"sentence", Tally_sentence, METH_NOARGS, "sentence() - the next subtrees are another sentence's"},
    {"subtree", Tally_subtree, METH_O, "subtree(cat) -> n: one more subtree of the category"},
    {"pattern", Tally_pattern, METH_O, "pattern(text) -> its number, added if new"},
    {"counts", Tally_counts, METH_NOARGS,
     "counts() -> {cat: [subtrees, sentences]}, in order of first appearance"},
    {"patterns", Tally_patterns, METH_NOARGS, "patterns() -> {text: number}"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject TallyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "treeindex.worker._scan.Tally",
    .tp_doc = "A task's numbering of its subtree rows: per category its subtrees and\n"
              "sentences, per children pattern its number (see worker/scan.py Tally).",
    .tp_basicsize = sizeof(Tally),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Tally_new,
    .tp_dealloc = Tally_dealloc,
    .tp_methods = Tally_methods,
};

#endif
