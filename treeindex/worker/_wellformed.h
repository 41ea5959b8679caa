/* The worker's well-formedness check, in the scanner's pass instead of a libxml2 parse.
 *
 * wellformed_pass(s, n, found) answers 1 only when the UTF-8 bytes of one sentence are
 * certainly well-formed XML as lxml's checking parser (libxml2: no DTD, no entities, no
 * network, not huge) accepts them, and 0 when it is not certain. 0 is never an error by
 * itself: the worker then checks the sentence with lxml as before, so every error keeps
 * libxml2's message and line. The one rule that matters is soundness: never 1 for bytes
 * libxml2 rejects. tests/test_wellformed.py and scripts/fuzz.py compare it with lxml on
 * mutated sentences.
 *
 * With `found` (not NULL) the same pass also tells the scanner (worker/_scan.c) of every
 * tag and attribute it reads, through the found_* functions the scanner defines: a sentence
 * is read once, not checked here and tokenized again there. They only record; what the
 * pass answers never depends on them (-1 only when one fails: no memory).
 *
 * What it accepts: an optional XML declaration (version 1.0, encoding UTF-8, standalone)
 * at the very start; whitespace; one element of ASCII names (no colon, not starting with
 * "xml") with attributes in single or double quotes, each name once per element; text and
 * values of valid UTF-8 made of XML characters, with the five predefined entities and
 * character references to XML characters; tags that nest and match, at most 200 deep;
 * whitespace after the root. Everything else (comments, CDATA, processing instructions, a
 * DOCTYPE, other entities, a byte order mark, namespaces, sentences over 4 MB, ...) is
 * "not certain".
 *
 * Included by _scan.c (one translation unit: the hooks inline into the pass).
 */
#ifndef TREEINDEX_WELLFORMED_H
#define TREEINDEX_WELLFORMED_H

#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "_bytes.h"

/* what the scanner keeps of the tags the pass reads (_scan.c), and its hooks; only
 * found_start_end, which makes room for a node, can fail (-1, an exception set) */
typedef struct Found Found;
static void found_start(Found *f, Py_ssize_t lt, Py_ssize_t name, Py_ssize_t len, int depth);
static void found_attribute(Found *f, Py_ssize_t name, Py_ssize_t len, Py_ssize_t value,
                            Py_ssize_t vlen);
static int found_start_end(Found *f, Py_ssize_t end, int empty);
static void found_end(Found *f, Py_ssize_t name, Py_ssize_t len, Py_ssize_t end);
static void found_content_end(Found *f, Py_ssize_t lt);

#define MAX_DEPTH 200           /* libxml2 refuses more than 256 without XML_PARSE_HUGE */
#define MAX_BYTES (4L << 20)    /* its limit on one text or value is 10,000,000 bytes */
#define MAX_NAME 1000           /* on a name, 50,000 */
#define MAX_ATTRIBUTES 256

/* byte classes: 0 an ordinary character, 1 stops a run (markup, reference, quote, ']'),
 * 2 never legal alone (controls; 0x80-0xC1 and 0xF5-0xFF), 3 starts a UTF-8 sequence */
static unsigned char cls[256];
static int cls_ready = 0;

static void init_classes(void) {
    for (int c = 0; c < 256; c++) {
        if (c < 0x20) cls[c] = (c == 0x09 || c == 0x0A || c == 0x0D) ? 0 : 2;
        else if (c < 0x80) cls[c] = 0;
        else if (c < 0xC2) cls[c] = 2;
        else if (c < 0xF5) cls[c] = 3;
        else cls[c] = 2;
    }
    cls['<'] = cls['&'] = cls[']'] = cls['"'] = cls['\''] = 1;
    cls_ready = 1;
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
/* the name characters this check accepts: 1 may start a name, 2 may continue one */
static const unsigned char name_class[256] = {
    ['A' ... 'Z'] = 3, ['a' ... 'z'] = 3, ['_'] = 3, ['0' ... '9'] = 2, ['-'] = 2, ['.'] = 2,
};
static int name_start(unsigned char c) { return name_class[c] & 1; }
static int name_char(unsigned char c) { return name_class[c] & 2; }

/* the length of the valid UTF-8 sequence of an XML character at s[i], or 0 */
static Py_ssize_t utf8_char(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) {
    unsigned char c = s[i];
    Py_ssize_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + len > n) return 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;  /* no surrogates */
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;  /* nothing above U+10FFFF */
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (Py_ssize_t k = 2; k < len; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    if (c == 0xEF && s[i + 1] == 0xBF && s[i + 2] >= 0xBE) return 0;  /* U+FFFE, U+FFFF */
    return len;
}

static int xml_char(unsigned long cp) {
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* a reference at s[i] == '&': its length, or 0 */
static Py_ssize_t reference(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t j = i + 1;
    if (j < n && s[j] == '#') {
        int hex = j + 1 < n && s[j + 1] == 'x';
        j += hex ? 2 : 1;
        unsigned long cp = 0;
        Py_ssize_t digits = 0;
        for (; j < n && s[j] != ';'; j++, digits++) {
            unsigned char c = s[j];
            int d = (c >= '0' && c <= '9') ? c - '0'
                    : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0 || digits >= 7) return 0;
            cp = cp * (hex ? 16 : 10) + (unsigned long)d;
        }
        if (j >= n || digits == 0 || !xml_char(cp)) return 0;
        return j + 1 - i;
    }
    static const char *const names[] = {"amp;", "lt;", "gt;", "quot;", "apos;"};
    for (int k = 0; k < 5; k++) {
        Py_ssize_t len = (Py_ssize_t)strlen(names[k]);
        if (j + len <= n && memcmp(s + j, names[k], len) == 0) return len + 1;
    }
    return 0;
}

/* characters and references from s[i] up to the next '<' (text, stop == 0) or quote `stop`
 * (a value, where '<' is an error): the stop's position, or -1 */
static Py_ssize_t chars(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, unsigned char stop) {
    while (i < n) {
        unsigned char c = s[i];
        switch (cls[c]) {
        case 0: i++; break;
        case 2: return -1;
        case 3: {
            Py_ssize_t len = utf8_char(s, i, n);
            if (!len) return -1;
            i += len;
            break;
        }
        default:
            if (c == '&') {
                Py_ssize_t len = reference(s, i, n);
                if (!len) return -1;
                i += len;
            } else if (c == '<') {
                return stop ? -1 : i;
            } else if (c == stop) {
                return i;
            } else if (c == ']' && !stop) {  /* "]]>" may not appear in text */
                if (i + 2 < n && s[i + 1] == ']' && s[i + 2] == '>') return -1;
                i++;
            } else {
                i++;  /* a quote in text, the other quote or ']' in a value */
            }
        }
    }
    return stop ? -1 : i;
}

/* a name at s[i]: its length, or 0 (not one this check accepts) */
static Py_ssize_t name(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) {
    if (i >= n || !name_start(s[i])) return 0;
    Py_ssize_t j = i + 1;
    while (j < n && name_char(s[j])) j++;
    Py_ssize_t len = j - i;
    if (len > MAX_NAME) return 0;
    if (len >= 3 && lower(s[i]) == 'x' && lower(s[i + 1]) == 'm' && lower(s[i + 2]) == 'l')
        return 0;  /* reserved names (xmlns, ...): libxml2 has rules of its own */
    return len;
}

static Py_ssize_t skip_space(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) {
    while (i < n && is_space(s[i])) i++;
    return i;
}

/* `S? = S? "value"` at s[i] for a declaration's pseudo-attribute: the end, or -1 */
static Py_ssize_t pseudo(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, const char *key,
                         const char *const *values) {
    Py_ssize_t k = (Py_ssize_t)strlen(key);
    if (i + k > n || memcmp(s + i, key, k) != 0) return -1;
    i = skip_space(s, i + k, n);
    if (i >= n || s[i] != '=') return -1;
    i = skip_space(s, i + 1, n);
    if (i >= n || (s[i] != '"' && s[i] != '\'')) return -1;
    unsigned char q = s[i++];
    for (int v = 0; values[v]; v++) {
        Py_ssize_t len = (Py_ssize_t)strlen(values[v]), m;
        if (i + len >= n || s[i + len] != q) continue;
        for (m = 0; m < len; m++)  /* case-insensitive: "utf-8" as "UTF-8" */
            if (lower(s[i + m]) != lower((unsigned char)values[v][m])) break;
        if (m == len) return i + len + 1;
    }
    return -1;
}

/* an XML declaration at the start: its end, or -1 (not one this check accepts) */
static Py_ssize_t declaration(const unsigned char *s, Py_ssize_t n) {
    static const char *const version[] = {"1.0", NULL};
    static const char *const encoding[] = {"UTF-8", NULL};
    static const char *const standalone[] = {"yes", "no", NULL};
    Py_ssize_t i = 5;  /* after "<?xml" */
    if (i >= n || !is_space(s[i])) return -1;
    i = pseudo(s, skip_space(s, i, n), n, "version", version);
    if (i < 0) return -1;
    Py_ssize_t j = skip_space(s, i, n);
    if (j > i && j < n && s[j] == 'e') {
        i = pseudo(s, j, n, "encoding", encoding);
        if (i < 0) return -1;
        j = skip_space(s, i, n);
    }
    if (j > i && j < n && s[j] == 's') {
        i = pseudo(s, j, n, "standalone", standalone);
        if (i < 0) return -1;
        j = skip_space(s, i, n);
    }
    if (j + 1 < n && s[j] == '?' && s[j + 1] == '>') return j + 2;
    return -1;
}

static int wellformed_pass(const unsigned char *s, Py_ssize_t n, Found *f) {
    Py_ssize_t stack[MAX_DEPTH], stack_n[MAX_DEPTH];
    Py_ssize_t attr[MAX_ATTRIBUTES], attr_n[MAX_ATTRIBUTES];
    int depth = 0;
    Py_ssize_t i = 0;
    if (!cls_ready) init_classes();
    if (n > MAX_BYTES) return 0;
    if (n >= 5 && memcmp(s, "<?xml", 5) == 0) {
        i = declaration(s, n);
        if (i < 0) return 0;
    }
    i = skip_space(s, i, n);
    if (i >= n || s[i] != '<' || i + 1 >= n || !name_start(s[i + 1])) return 0;
    for (;;) {
        /* at '<' */
        if (s[i + 1] == '/') {  /* an end tag: the open element's name */
            Py_ssize_t len = name(s, i + 2, n);
            if (!len || depth == 0 || len != stack_n[depth - 1] ||
                !same((const char *)s + i + 2, (const char *)s + stack[depth - 1], len))
                return 0;
            Py_ssize_t at = i + 2;
            i = skip_space(s, at + len, n);
            if (i >= n || s[i] != '>') return 0;
            i++;
            if (f) found_end(f, at, len, i);
            if (--depth == 0) break;
        } else {  /* a start tag */
            Py_ssize_t at = i + 1, len = name(s, at, n);
            int attrs = 0, empty = 0;
            /* the attribute names seen, by length and last byte: a name is compared with
             * the earlier ones only when its bit was set (a node has a dozen or more) */
            uint64_t seen = 0;
            if (!len) return 0;
            if (f) found_start(f, i, at, len, depth);
            i = at + len;
            for (;;) {
                Py_ssize_t j = skip_space(s, i, n);
                if (j >= n) return 0;
                if (s[j] == '>') { i = j + 1; break; }
                if (s[j] == '/') {
                    if (j + 1 >= n || s[j + 1] != '>') return 0;
                    i = j + 2;
                    empty = 1;
                    break;
                }
                if (j == i) return 0;  /* attributes are separated by whitespace */
                Py_ssize_t an = name(s, j, n);
                if (!an || attrs == MAX_ATTRIBUTES) return 0;
                uint64_t bit = (uint64_t)1 << ((an * 7 + s[j + an - 1]) & 63);
                if (seen & bit)
                    for (int k = 0; k < attrs; k++)
                        if (attr_n[k] == an && same((const char *)s + attr[k], (const char *)s + j, an)) return 0;
                seen |= bit;
                attr[attrs] = j;
                attr_n[attrs++] = an;
                j = skip_space(s, j + an, n);
                if (j >= n || s[j] != '=') return 0;
                j = skip_space(s, j + 1, n);
                if (j >= n || (s[j] != '"' && s[j] != '\'')) return 0;
                Py_ssize_t end = chars(s, j + 1, n, s[j]);
                if (end < 0) return 0;
                if (f) found_attribute(f, attr[attrs - 1], an, j + 1, end - (j + 1));
                i = end + 1;
            }
            if (f && found_start_end(f, i, empty) < 0) return -1;
            if (!empty) {
                if (depth == MAX_DEPTH) return 0;
                stack[depth] = at;
                stack_n[depth++] = len;
            } else if (depth == 0) {
                break;  /* an empty root */
            }
        }
        /* content up to the next tag */
        i = chars(s, i, n, 0);
        if (i < 0 || i + 1 >= n) return 0;
        if (s[i + 1] != '/' && !name_start(s[i + 1])) return 0;  /* <! and <?: lxml's */
        if (f) found_content_end(f, i);
    }
    return skip_space(s, i, n) == n;
}

/* 1 when the bytes are certainly well-formed XML as lxml's checker sees them */
static int ti_wellformed(const unsigned char *s, Py_ssize_t n) {
    return wellformed_pass(s, n, NULL);
}

#endif
