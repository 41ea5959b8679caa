/* The node-block builder's C interface (treeindex/search/_nodes.c), for the worker's scanner
 * (treeindex/worker/_scan.c), which adds each sentence's elements to a task's block in its
 * own pass over the sentence's bytes. The scanner finds it at run time through a capsule,
 * so neither extension needs the other to be built. */
#ifndef TREEINDEX_NODES_H
#define TREEINDEX_NODES_H

#define NODES_CAPSULE "treeindex.search._nodes._C_API"

/* where the builder stood before a sentence (to keep it, or take it back) */
typedef struct { Py_ssize_t n, kind, parent, size, sent; } NodesMark;

typedef struct {
    /* the builder of a `_nodes.start()` capsule: NULL, with an exception set, for
     * anything else */
    void *(*state)(PyObject *builder);
    /* a sentence begins (its document root is element m->n): 0, or -1 with an exception */
    int (*begin)(void *state, NodesMark *m);
    /* an element (kind 0 alpino_ds, 1 node) under element `parent`: its number, or -1 */
    int32_t (*element)(void *state, int kind, int32_t parent);
    /* an attribute of the last element, its value as written (`decode`: it holds a
     * reference or whitespace XML normalizes): 1, 0 where the builder takes no such value
     * (the sentence must then be taken back), -1 with an exception */
    int (*attr)(void *state, const char *name, Py_ssize_t an, const char *value,
                Py_ssize_t vn, int decode);
    /* element `el` ends: its size is the elements added since */
    void (*close)(void *state, int32_t el);
    /* the sentence ends: kept (keep), or taken back as if never begun; 0, or -1 with an
     * exception (then taken back) */
    int (*end)(void *state, const NodesMark *m, int keep);
} NodesAPI;

#endif
