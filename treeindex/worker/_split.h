/* The worker's splitter in C (worker/_scan.c's `split` and `find_special`): where each
 * sentence of a task's bytes starts and ends, and the lines before it, as
 * sources/split.py's Python splitter finds them (its reference in the tests). Included by
 * _scan.c: one extension module, one file per job.
 */
#ifndef TREEINDEX_SPLIT_H
#define TREEINDEX_SPLIT_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

/* the first "<!" or "<?" in [start, end) of s, or -1. Both marks are rare in treebanks, so
 * this runs at memchr speed over '!' and '?'. */
static Py_ssize_t special_at(const char *s, Py_ssize_t start, Py_ssize_t end) {
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
    return best;
}

/* find_special(data, start, end) -> position of the first "<!" or "<?" in [start, end), or -1 */
static PyObject *find_special(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end)) return NULL;
    if (end > view.len) end = view.len;
    if (start < 0) start = 0;
    Py_ssize_t best = special_at(view.buf, start, end);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(best);
}

static const char START[] = "<alpino_ds";
static const char END[] = "</alpino_ds>";
#define START_N 10
#define END_N 12

/* the first "<alpino_ds" that lies wholly in [from, to) of s, or -1 (bytes.find; memchr on
 * '<' would stop at every tag) */
static Py_ssize_t find_start(const char *s, Py_ssize_t from, Py_ssize_t to) {
    if (to - from < START_N) return -1;
#ifdef __GLIBC__
    const char *hit = memmem(s + from, to - from, START, START_N);
    return hit ? hit - s : -1;
#else
    for (Py_ssize_t h = from; h + START_N <= to; h++)
        if (s[h] == '<' && memcmp(s + h, START, START_N) == 0) return h;
    return -1;
#endif
}

/* the last "</alpino_ds>" that lies wholly in [from, to), or -1 (bytes.rfind: a sentence's
 * end is near the next one's start, so this looks from there back) */
static Py_ssize_t rfind_end(const char *s, Py_ssize_t from, Py_ssize_t to) {
    for (Py_ssize_t h = to - END_N; h >= from; h--)
        if (s[h] == '<' && memcmp(s + h, END, END_N) == 0) return h;
    return -1;
}

/* the newlines in [from, to): eight bytes at a time (a byte loop ran at 1 GB/s) */
static Py_ssize_t newlines(const char *s, Py_ssize_t from, Py_ssize_t to) {
    const uint64_t ones = 0x0101010101010101ULL, low7 = 0x7F7F7F7F7F7F7F7FULL;
    Py_ssize_t n = 0, k = from;
    for (; k + 8 <= to; k += 8) {
        uint64_t w;
        memcpy(&w, s + k, 8);
        w ^= ones * '\n';  /* a newline is now a zero byte */
        uint64_t t = ~(((w & low7) + low7) | w | low7);  /* the high bit of each zero byte */
        n += (Py_ssize_t)(((t >> 7) * ones) >> 56);  /* (one bit a byte: their sum) */
    }
    for (; k < to; k++) n += s[k] == '\n';
    return n;
}

/* a <alpino_ds at h is a tag when a delimiter follows its name in the data (not only before
 * `limit`: as the Python splitter reads it) */
static int tag_at(const char *s, Py_ssize_t len, Py_ssize_t h) {
    if (h + START_N >= len) return 0;
    char c = s[h + START_N];
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/';
}

/* split(data, start, limit) -> ([(a, b, e, line), ...], newlines) or None.
 * The sentences of data[start:limit] exactly as sources/split.py sentence_spans and
 * sentence_bytes find them, with the lines that treebank.py counts: each sentence runs from
 * its <alpino_ds (a) to the next one or `limit` (b); e is the end of its last </alpino_ds>
 * in [a, b), or -1 (truncated); line is the newlines in [start, a); newlines those in
 * [start, limit). None when a comment, CDATA section, processing instruction or DOCTYPE
 * ("<!", "<?") is there: then the Python splitter, which skips them, must be used. */
static PyObject *split(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, limit;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &limit)) return NULL;
    const char *s = view.buf;
    Py_ssize_t len = view.len;
    if (limit > len) limit = len;
    if (start < 0) start = 0;
    PyObject *out = NULL, *spans = NULL;
    if (special_at(s, start, limit) >= 0) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    spans = PyList_New(0);
    if (!spans) goto done;
    Py_ssize_t line = 0, counted = start;
    Py_ssize_t cur = find_start(s, start, limit);
    while (cur >= 0) {
        Py_ssize_t nxt = find_start(s, cur + START_N, limit);
        while (nxt >= 0 && !tag_at(s, len, nxt))
            nxt = find_start(s, nxt + START_N, limit);
        if (tag_at(s, len, cur)) {
            Py_ssize_t b = nxt >= 0 ? nxt : limit;
            Py_ssize_t e = rfind_end(s, cur, b);
            line += newlines(s, counted, cur);
            counted = cur;
            PyObject *t = Py_BuildValue("(nnnn)", cur, b, e >= 0 ? e + END_N : (Py_ssize_t)-1,
                                        line);
            if (!t || PyList_Append(spans, t) < 0) { Py_XDECREF(t); goto done; }
            Py_DECREF(t);
        }
        cur = nxt;
    }
    out = Py_BuildValue("(On)", spans, line + newlines(s, counted, limit));
done:
    Py_XDECREF(spans);
    PyBuffer_Release(&view);
    return out;
}

#endif
