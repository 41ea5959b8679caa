/* The packer's C interface (treeindex/store/_pack.c), for the worker's scanner
 * (treeindex/worker/_scan.c), which adds each kept subtree's row straight into a task's
 * packed image instead of building a Python tuple for it. The scanner finds it at run time
 * through a capsule, so neither extension needs the other to be built. */
#ifndef TREEINDEX_PACK_H
#define TREEINDEX_PACK_H

#define PACK_CAPSULE "treeindex.store._pack._C_API"
#define PACK_SUBTREE_COLUMNS 15

enum { PACK_NULL = 0, PACK_INT = 1, PACK_OBJECT = 2 };

/* one column's value: SQL NULL, an integer, or a Python object (stored as Python's sqlite3
 * module would bind it: int, float, str, bytes, None), alive for the call */
typedef struct {
    int kind;
    long long i;
    PyObject *o;
} PackValue;

typedef struct {
    /* 1 when `o` is a Packer (anything else must never reach add_subtree) */
    int (*is_packer)(PyObject *o);
    /* add one row of the subtrees table (PACK_SUBTREE_COLUMNS values, in the order of
     * store/packed.py's subtree columns) to `packer`: 0, or -1 with an exception set */
    int (*add_subtree)(PyObject *packer, const PackValue *values);
} PackAPI;

#endif
