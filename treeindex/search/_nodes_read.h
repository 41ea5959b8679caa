/* The node block builder's reader of a sentence's bytes (search/_nodes.c): one pass over
 * the tags that adds each element and attribute to the builder's state (its values hashed
 * as they are read), decoding values as XML gives them; anything it does not read exactly
 * hands the sentence over (lxml reads it). Included by _nodes.c, after the state it fills.
 */
#ifndef TREEINDEX_NODES_READ_H
#define TREEINDEX_NODES_READ_H

static void put_utf8(char *b, Py_ssize_t *o, unsigned long cp) {
    if (cp < 0x80) { b[(*o)++] = (char)cp; }
    else if (cp < 0x800) { b[(*o)++] = (char)(0xC0 | (cp >> 6)); b[(*o)++] = (char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) {
        b[(*o)++] = (char)(0xE0 | (cp >> 12)); b[(*o)++] = (char)(0x80 | ((cp >> 6) & 63));
        b[(*o)++] = (char)(0x80 | (cp & 63));
    } else {
        b[(*o)++] = (char)(0xF0 | (cp >> 18)); b[(*o)++] = (char)(0x80 | ((cp >> 12) & 63));
        b[(*o)++] = (char)(0x80 | ((cp >> 6) & 63)); b[(*o)++] = (char)(0x80 | (cp & 63));
    }
}

/* An attribute value as XML gives it (references decoded, literal whitespace one space each,
 * \r\n one space) in st->scratch; 1: done, 0: a reference it does not decode, -1: error */
static int decode_value(State *st, const char *p, Py_ssize_t n) {
    st->scratch.len = 0;
    if (n + 8 > st->scratch.cap) {
        char *nb = PyMem_Realloc(st->scratch.buf, n + 8);
        if (!nb) { PyErr_NoMemory(); return -1; }
        st->scratch.buf = nb;
        st->scratch.cap = n + 8;
    }
    char *o = st->scratch.buf;
    Py_ssize_t len = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        char c = p[k];
        if (c != '&') {
            if (c == '\r' && k + 1 < n && p[k + 1] == '\n') continue;
            o[len++] = (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
            continue;
        }
        const char *semi = memchr(p + k, ';', n - k);
        if (!semi) return 0;
        Py_ssize_t rn = semi - (p + k) - 1;
        const char *r = p + k + 1;
        unsigned long cp = 0;
        if (rn == 3 && memcmp(r, "amp", 3) == 0) cp = '&';
        else if (rn == 2 && memcmp(r, "lt", 2) == 0) cp = '<';
        else if (rn == 2 && memcmp(r, "gt", 2) == 0) cp = '>';
        else if (rn == 4 && memcmp(r, "quot", 4) == 0) cp = '"';
        else if (rn == 4 && memcmp(r, "apos", 4) == 0) cp = '\'';
        else if (rn >= 2 && r[0] == '#') {
            int hex = r[1] == 'x';
            Py_ssize_t d = hex ? 2 : 1;
            if (d >= rn || rn - d > 8) return 0;
            for (; d < rn; d++) {
                char h = r[d];
                int v = (h >= '0' && h <= '9') ? h - '0'
                        : (hex && h >= 'a' && h <= 'f') ? h - 'a' + 10
                        : (hex && h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                if (v < 0) return 0;
                cp = cp * (hex ? 16 : 10) + v;
            }
            if (cp == 0 || cp > 0x10FFFF) return 0;
        } else {
            return 0;
        }
        put_utf8(o, &len, cp);  /* a reference is at least 4 bytes: never longer */
        k += rn + 1;
    }
    st->scratch.len = len;
    return 1;
}

/* One sentence's bytes. 1: added, 0: hand it over (nothing added), -1: error. */
static int scan_sentence(State *st, const char *s, Py_ssize_t n) {
    Py_ssize_t start_n = st->n;
    for (Py_ssize_t k = 0; k < st->ncols; k++) st->cols[k].mark = st->cols[k].count;
    int32_t stack[512];  /* element numbers of the open modelled elements; -1 others */
    int depth = 0;
    int32_t root = (int32_t)st->n;
    int seen_ds = 0;
    if (add_element(st, 2, -1) < 0) return -1;
    Py_ssize_t i = 0;
    int result = 1;
    while (i < n) {
        i = next_lt(s, i, n);
        if (i < 0) break;
        if (i + 1 >= n) { result = 0; break; }
        char c = s[i + 1];
        if (c == '!') {
            const char *end_mark;
            Py_ssize_t from;
            if (i + 4 <= n && memcmp(s + i, "<!--", 4) == 0) { end_mark = "-->"; from = i + 4; }
            else if (i + 9 <= n && memcmp(s + i, "<![CDATA[", 9) == 0) { end_mark = "]]>"; from = i + 9; }
            else { result = 0; break; }  /* a DOCTYPE */
            Py_ssize_t e = find_mark(s, from, n, end_mark, 3);
            if (e < 0) { result = 0; break; }
            i = e + 3;
            continue;
        }
        if (c == '?') {
            Py_ssize_t e = find_mark(s, i + 2, n, "?>", 2);
            if (e < 0) { result = 0; break; }
            i = e + 2;
            continue;
        }
        if (c == '/') {
            Py_ssize_t gt = i + 2;
            while (gt < n && s[gt] != '>') gt++;
            if (gt >= n || depth == 0) { result = 0; break; }
            int32_t el = stack[--depth];
            if (el >= 0) set_size(st, el, (int32_t)(st->n - el - 1));
            i = gt + 1;
            continue;
        }
        Py_ssize_t j = i + 1;
        unsigned char seen_class = 0;
        while (j < n && !(CLASS(s[j]) & ENDS_TAG_NAME)) seen_class |= CLASS(s[j++]);
        Py_ssize_t nl = j - (i + 1);
        const char *name = s + i + 1;
        if (seen_class & COLON) { result = 0; break; }
        int is_node = nl == 4 && same(name, "node", 4);
        int is_ds = depth == 0 && !seen_ds && nl == 9 && same(name, "alpino_ds", 9);
        int32_t top = depth ? stack[depth - 1] : -2;  /* -2: outside any element */
        int32_t el = -1;
        if (depth == 0 && !is_ds) { result = 0; break; }
        if (is_ds) {
            seen_ds = 1;
            if (add_element(st, 0, root) < 0) return -1;
            el = (int32_t)(st->n - 1);
        } else if (is_node) {
            if (top < 0) { result = 0; break; }  /* a node outside the tree */
            if (add_element(st, 1, top) < 0) return -1;
            el = (int32_t)(st->n - 1);
        }
        int empty = 0, bad = 0;
        st->in_node = is_node;
        for (;;) {
            while (j < n && is_space(s[j])) j++;
            if (j >= n) { bad = 1; break; }
            if (s[j] == '>') { j++; break; }
            if (s[j] == '/') {
                if (j + 1 < n && s[j + 1] == '>') { empty = 1; j += 2; break; }
                bad = 1; break;
            }
            Py_ssize_t as = j;
            seen_class = 0;
            while (j < n && !(CLASS(s[j]) & ENDS_ATTR_NAME)) seen_class |= CLASS(s[j++]);
            Py_ssize_t an = j - as;
            if ((seen_class & COLON) || (an >= 5 && same(s + as, "xmlns", 5))) { bad = 1; break; }
            while (j < n && is_space(s[j])) j++;
            if (j >= n || s[j] != '=') { bad = 1; break; }
            j++;
            while (j < n && is_space(s[j])) j++;
            if (j >= n || (s[j] != '"' && s[j] != '\'')) { bad = 1; break; }
            unsigned char quote = s[j++] == '"' ? DQUOTE : SQUOTE;
            /* the value's end, its hash and whether it needs decoding (a reference, or
             * whitespace XML normalizes), in one pass */
            Py_ssize_t vs = j;
            size_t vh = 1469598103934665603ULL ^ nodes_seed;  /* hash()'s, in the pass */
            seen_class = 0;
            for (; j < n; j++) {
                unsigned char vc = (unsigned char)s[j], k = byte_class[vc];
                if (k & quote) break;
                seen_class |= k;
                vh = (vh ^ vc) * 1099511628211ULL;
            }
            if (j >= n) { bad = 1; break; }
            Py_ssize_t vn = j - vs;
            j++;
            if (el < 0) continue;
            if (!(seen_class & NEEDS_DECODE)) {
                if (set_attr_hashed(st, s + as, an, s + vs, vn, vh) < 0) return -1;
                continue;
            }
            int r = decode_value(st, s + vs, vn);
            if (r < 0) return -1;
            if (r == 0) { bad = 1; break; }
            if (set_attr(st, s + as, an, st->scratch.buf, st->scratch.len) < 0) return -1;
        }
        if (bad) { result = 0; break; }
        if (is_node && node_end(st) < 0) return -1;
        if (empty) {
            if (el >= 0) set_size(st, el, 0);
        } else {
            if (depth == 512) { result = 0; break; }
            stack[depth++] = el;
        }
        i = j;
    }
    if (result == 1 && (depth != 0 || !seen_ds)) result = 0;
    if (result == 1) {
        set_size(st, root, (int32_t)(st->n - root - 1));
        return 1;
    }
    truncate_to(st, start_n);  /* undo the sentence */
    return 0;
}

#endif
