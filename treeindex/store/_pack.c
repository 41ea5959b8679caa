/* A task's packed image (store/packed.py) made with SQLite's C interface: the rows are
 * bound and inserted here, not one value at a time through Python's sqlite3 module, and
 * the worker's scanner adds its subtree rows without building Python tuples for them
 * (_pack.h). The image is the same database (same tables, rows, types and order) as
 * packed.pack makes; tests compare the two.
 *
 * Packer(schema, insert_subtree, insert_sentence, insert_pattern, insert_subtrees): an
 * in-memory database with `schema`, in one transaction; the first three statements insert
 * one row each, the last as many subtree rows as it has values for (the scanner's rows are
 * held until that many are there: a statement per row cost more than binding them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>
#include "_pack.h"

#define MAX_BATCH 64

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    sqlite3_stmt *insert[4];  /* a subtree, a sentence, a pattern, `batch` subtrees */
    Py_ssize_t subtrees;
    int broken;  /* an insert failed: the image would lack rows, so it is never made */
    int batch;  /* rows the last statement inserts */
    int held;  /* scanner's rows waiting for it (their objects referenced) */
    PackValue rows[MAX_BATCH][PACK_SUBTREE_COLUMNS];
} Packer;

enum { T_SUBTREE = 0, T_SENTENCE = 1, T_PATTERN = 2, T_SUBTREES = 3 };
static const int COLUMNS[3] = {PACK_SUBTREE_COLUMNS, 8, 2};

static PyObject *sqlite_error(Packer *p) {
    p->broken = 1;
    PyErr_Format(PyExc_RuntimeError, "packing the rows failed: %s",
                 p->db ? sqlite3_errmsg(p->db) : "no database");
    return NULL;
}

/* bind as Python's sqlite3 module binds: None, int, float, str, bytes */
static int bind_object(Packer *p, sqlite3_stmt *st, int col, PyObject *o) {
    int rc;
    if (o == Py_None) {
        rc = sqlite3_bind_null(st, col);
    } else if (PyLong_Check(o)) {
        long long v = PyLong_AsLongLong(o);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_SetString(PyExc_OverflowError,
                            "Python int too large to convert to SQLite INTEGER");
            return -1;
        }
        rc = sqlite3_bind_int64(st, col, v);
    } else if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(o, &n);
        if (!u) return -1;
        rc = sqlite3_bind_text64(st, col, u, (sqlite3_uint64)n, SQLITE_STATIC, SQLITE_UTF8);
    } else if (PyBytes_Check(o)) {
        rc = sqlite3_bind_blob64(st, col, PyBytes_AS_STRING(o),
                                 (sqlite3_uint64)PyBytes_GET_SIZE(o), SQLITE_STATIC);
    } else if (PyFloat_Check(o)) {
        rc = sqlite3_bind_double(st, col, PyFloat_AS_DOUBLE(o));
    } else {
        PyErr_Format(PyExc_TypeError, "cannot pack a value of type %s", Py_TYPE(o)->tp_name);
        return -1;
    }
    if (rc != SQLITE_OK) {
        sqlite_error(p);
        return -1;
    }
    return 0;
}

static int step(Packer *p, sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        sqlite_error(p);
        return -1;
    }
    return 0;
}

static int usable(Packer *p) {
    if (!p->db) {
        PyErr_SetString(PyExc_ValueError, "the packer is closed");
        return 0;
    }
    if (p->broken) {
        PyErr_SetString(PyExc_RuntimeError, "packing the rows failed earlier");
        return 0;
    }
    return 1;
}

static int bind_value(Packer *p, sqlite3_stmt *st, int col, const PackValue *v) {
    int rc = SQLITE_OK;
    if (v->kind == PACK_NULL) rc = sqlite3_bind_null(st, col);
    else if (v->kind == PACK_INT) rc = sqlite3_bind_int64(st, col, v->i);
    else return bind_object(p, st, col, v->o);
    if (rc != SQLITE_OK) {
        sqlite_error(p);
        return -1;
    }
    return 0;
}

static void release_held(Packer *p) {
    for (int r = 0; r < p->held; r++)
        for (int c = 0; c < PACK_SUBTREE_COLUMNS; c++)
            if (p->rows[r][c].kind == PACK_OBJECT) Py_CLEAR(p->rows[r][c].o);
    p->held = 0;
}

/* insert the rows the scanner handed over so far, in order: `batch` at a time while there
 * are that many, then one at a time */
static int flush(Packer *p) {
    int r = 0, rc = 0;
    while (rc == 0 && r < p->held) {
        int many = p->held - r >= p->batch && p->insert[T_SUBTREES];
        sqlite3_stmt *st = p->insert[many ? T_SUBTREES : T_SUBTREE];
        int n = many ? p->batch : 1;
        for (int k = 0; rc == 0 && k < n; k++)
            for (int c = 0; rc == 0 && c < PACK_SUBTREE_COLUMNS; c++)
                rc = bind_value(p, st, k * PACK_SUBTREE_COLUMNS + c + 1, &p->rows[r + k][c]);
        if (rc == 0) rc = step(p, st);
        r += n;
    }
    release_held(p);
    if (rc < 0) p->broken = 1;
    return rc;
}

/* the C interface: one subtree row from the scanner (held until a batch is full) */
static int add_subtree(PyObject *self, const PackValue *v) {
    Packer *p = (Packer *)self;
    if (!usable(p)) return -1;
    PackValue *row = p->rows[p->held];
    for (int c = 0; c < PACK_SUBTREE_COLUMNS; c++) {
        row[c] = v[c];
        if (v[c].kind == PACK_OBJECT) Py_INCREF(v[c].o);
    }
    p->held++;
    p->subtrees++;
    if (p->held == p->batch) return flush(p);
    return 0;
}

/* rows of one table from Python: an iterable of tuples */
static PyObject *add_rows(Packer *p, int table, PyObject *rows) {
    if (!usable(p)) return NULL;
    if (table == T_SUBTREE && p->held && flush(p) < 0) return NULL;
    sqlite3_stmt *st = p->insert[table];
    PyObject *it = PyObject_GetIter(rows);
    if (!it) return NULL;
    PyObject *row;
    Py_ssize_t added = 0;
    while ((row = PyIter_Next(it))) {
        PyObject *seq = PySequence_Fast(row, "a row must be a tuple");
        Py_DECREF(row);
        if (!seq) goto fail;
        if (PySequence_Fast_GET_SIZE(seq) != COLUMNS[table]) {
            PyErr_Format(PyExc_ValueError, "a row of %zd values, not %d",
                         PySequence_Fast_GET_SIZE(seq), COLUMNS[table]);
            Py_DECREF(seq);
            goto fail;
        }
        PyObject **items = PySequence_Fast_ITEMS(seq);
        for (int c = 0; c < COLUMNS[table]; c++)
            if (bind_object(p, st, c + 1, items[c]) < 0) {
                Py_DECREF(seq);
                goto fail;
            }
        int rc = step(p, st);
        Py_DECREF(seq);
        if (rc < 0) goto fail;
        added++;
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) { p->broken = 1; return NULL; }
    if (table == T_SUBTREE) p->subtrees += added;
    Py_RETURN_NONE;
fail:
    p->broken = 1;  /* (some rows of the batch may be in: the image is never made) */
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

static void close_db(Packer *p) {
    release_held(p);
    for (int k = 0; k < 4; k++) {
        sqlite3_finalize(p->insert[k]);
        p->insert[k] = NULL;
    }
    if (p->db) sqlite3_close(p->db);
    p->db = NULL;
}

/* commit and return the database's image (bytes); the packer is closed after */
static PyObject *Packer_serialize(PyObject *self, PyObject *unused) {
    Packer *p = (Packer *)self;
    if (!usable(p)) return NULL;
    if (p->held && flush(p) < 0) return NULL;
    if (sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_error(p);
    sqlite3_int64 size = 0;
    unsigned char *data = sqlite3_serialize(p->db, "main", &size, 0);
    if (!data) return sqlite_error(p);
    PyObject *out = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    sqlite3_free(data);
    close_db(p);
    return out;
}

static int Packer_init(PyObject *self, PyObject *args, PyObject *kwds) {
    Packer *p = (Packer *)self;
    const char *schema, *sql[4];
    static char *names[] = {"schema", "insert_subtree", "insert_sentence", "insert_pattern",
                            "insert_subtrees", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sssss", names, &schema, &sql[0], &sql[1],
                                     &sql[2], &sql[3]))
        return -1;
    close_db(p);
    p->subtrees = 0;
    p->broken = 0;
    /* (NOMUTEX: one thread at a time uses a packer, always holding the GIL; SQLite's lock
     * of the connection around every bind and step was 3% of the scanner's time) */
    if (sqlite3_open_v2(":memory:", &p->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(p->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(p->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite_error(p);
        close_db(p);
        return -1;
    }
    for (int k = 0; k < 4; k++) {
        if (sqlite3_prepare_v2(p->db, sql[k], -1, &p->insert[k], NULL) != SQLITE_OK ||
            !p->insert[k]) {
            sqlite_error(p);
            close_db(p);
            return -1;
        }
    }
    int many = sqlite3_bind_parameter_count(p->insert[T_SUBTREES]);
    p->batch = many / PACK_SUBTREE_COLUMNS;
    for (int k = 0; k < 3; k++)
        if (sqlite3_bind_parameter_count(p->insert[k]) != COLUMNS[k]) {
            PyErr_Format(PyExc_ValueError, "statement %d must take %d values", k, COLUMNS[k]);
            close_db(p);
            return -1;
        }
    if (p->batch < 1 || p->batch > MAX_BATCH || many % PACK_SUBTREE_COLUMNS) {
        PyErr_Format(PyExc_ValueError, "insert_subtrees must take 1 to %d rows of %d values",
                     MAX_BATCH, PACK_SUBTREE_COLUMNS);
        close_db(p);
        return -1;
    }
    return 0;
}

static void Packer_dealloc(PyObject *self) {
    close_db((Packer *)self);
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
     "serialize() -> bytes: commit, and the database's image; the packer is closed after."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Packer_getset[] = {
    {"count", Packer_count, NULL, "subtree rows added so far", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PackerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "treeindex.store._pack.Packer",
    .tp_basicsize = sizeof(Packer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A task's packed image, made with SQLite's C interface.",
    .tp_new = PyType_GenericNew,
    .tp_init = Packer_init,
    .tp_dealloc = Packer_dealloc,
    .tp_methods = Packer_methods,
    .tp_getset = Packer_getset,
};

static int is_packer(PyObject *o) { return PyObject_TypeCheck(o, &PackerType); }

static PackAPI api = {is_packer, add_subtree};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pack",
                                    "Packed images made with SQLite's C interface.", -1, NULL};

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
