/* The `treeindex` command's front end: `treeindex search ...` handed to a running
 * `treeindex server` of the same index without starting Python (treeindex/client.py does
 * the same in Python, after the 20-25 ms Python takes to start; this takes about 1 ms).
 *
 * It speaks client.py's protocol and sends what client.py would send. Whatever it does
 * not handle exactly as the Python command would, it hands to the Python command
 * (`treeindex-python`, installed beside it) by exec, with the same arguments:
 * any other command; TREEINDEX_SERVER=off/0/no; no server of that index; a server that
 * refuses or does not answer; a locale whose encoding is not UTF-8, or C/POSIX (Python
 * coerces those); PYTHONIOENCODING or PYTHONUTF8 set (they change the streams' encoding);
 * an argument, variable or directory that is not valid UTF-8 (Python's surrogate escapes).
 * So the command's output, messages and exit status are those of the Python command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

extern char **environ;

static char **g_argv;
static volatile pid_t g_pid = 0;

/* Run the Python command instead, with the same arguments. The kernel gives a script the
 * path it was run by as its argv[0]: the name this command was run by goes in
 * TREEINDEX_ARGV0, which the script takes out of its environment (so that click names the
 * program `treeindex` in its messages, as when the script is run directly). */
static void python_command(void) {
    setenv("TREEINDEX_ARGV0", g_argv[0], 1);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            strcpy(slash + 1, "treeindex-python");
            execv(self, g_argv);
        }
    }
    execvp("treeindex-python", g_argv);
    fprintf(stderr, "treeindex: cannot run treeindex-python (installed beside this "
                    "command): %s; reinstall treeindex\n", strerror(errno));
    _exit(1);
}

/* The server was asked and did not take the command: the Python command runs it without
 * asking again (TREEINDEX_ASKED, taken out of its environment as TREEINDEX_ARGV0 is), so a
 * server that does not answer costs one wait of 2 s, not two. */
static void asked(void) {
    setenv("TREEINDEX_ASKED", "1", 1);
    python_command();
}

static void early(int signum) { _exit(128 + signum); }

static void pass_on(int signum) {
    if (g_pid > 0) kill(g_pid, signum);
}

/* 1 when s is valid UTF-8 as Python's strict decoder sees it (no overlong forms, no
 * surrogates, nothing above U+10FFFF) */
static int valid_utf8(const unsigned char *s) {
    while (*s) {
        unsigned c = *s;
        if (c < 0x80) { s++; continue; }
        int n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c == 0xE0) { n = 2; lo = 0xA0; }
        else if (c == 0xED) { n = 2; hi = 0x9F; }
        else if (c >= 0xE1 && c <= 0xEF) n = 2;
        else if (c == 0xF0) { n = 3; lo = 0x90; }
        else if (c == 0xF4) { n = 3; hi = 0x8F; }
        else if (c >= 0xF1 && c <= 0xF3) n = 3;
        else return 0;
        if (s[1] < lo || s[1] > hi) return 0;
        for (int k = 2; k <= n; k++)
            if (s[k] < 0x80 || s[k] > 0xBF) return 0;
        s += n + 1;
    }
    return 1;
}

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static void put(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) python_command();
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

/* a JSON string of valid UTF-8 text (client.py's _json: ", \ and controls escaped) */
static void put_string(Buf *b, const char *s, size_t n) {
    puts_(b, "\"");
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7F) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            puts_(b, esc);
        } else {
            put(b, (const char *)&s[k], 1);
        }
    }
    puts_(b, "\"");
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* the --db the search was given (client.py's db_argument) */
static const char *db_argument(int argc, char **argv) {
    const char *db = "treeindex.db";
    for (int k = 2; k < argc; k++) {
        const char *a = argv[k];
        if (strcmp(a, "--") == 0) break;
        if (strcmp(a, "--db") == 0 && k + 1 < argc) {
            db = argv[++k];
        } else if (strncmp(a, "--db=", 5) == 0) {
            db = a + 5;
        }
    }
    return db;
}

/* one line from the server, without its newline; "" when the connection ends */
static int read_line(int sock, char *line, size_t size, char *pending, size_t *npending) {
    for (;;) {
        char *nl = memchr(pending, '\n', *npending);
        if (nl) {
            size_t n = (size_t)(nl - pending);
            if (n >= size) n = size - 1;
            memcpy(line, pending, n);
            line[n] = 0;
            size_t rest = *npending - (size_t)(nl - pending) - 1;
            memmove(pending, nl + 1, rest);
            *npending = rest;
            return 1;
        }
        if (*npending >= 255) return 0;
        ssize_t got = recv(sock, pending + *npending, 256 - *npending, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        *npending += (size_t)got;
    }
}

int main(int argc, char **argv) {
    g_argv = argv;
    signal(SIGINT, early);
    signal(SIGTERM, early);
    signal(SIGHUP, early);
    if (argc <= 2 || strcmp(argv[1], "search") != 0) python_command();
    const char *mode = getenv("TREEINDEX_SERVER");
    if (mode && (strcasecmp(mode, "off") == 0 || strcasecmp(mode, "0") == 0 ||
                 strcasecmp(mode, "no") == 0))
        python_command();
    if (getenv("PYTHONIOENCODING") || getenv("PYTHONUTF8")) python_command();
    const char *loc = setlocale(LC_CTYPE, "");
    if (!loc || strcmp(loc, "C") == 0 || strcmp(loc, "POSIX") == 0) python_command();
    const char *codeset = nl_langinfo(CODESET);
    if (!codeset || strcmp(codeset, "UTF-8") != 0) python_command();
    /* Python's errors for stdout: surrogateescape in the locales it coerces C to
     * (_Py_IsLocaleCoercionTarget), strict in every other UTF-8 locale */
    const char *out_errors = strcmp(loc, "C.UTF-8") == 0 || strcmp(loc, "C.utf8") == 0 ||
                                     strcmp(loc, "UTF-8") == 0
                                 ? "[\"utf-8\",\"surrogateescape\"]"
                                 : "[\"utf-8\",\"strict\"]";

    /* where the server of this index listens (client.py's socket_path) */
    struct stat st;
    if (stat(db_argument(argc, argv), &st) != 0) python_command();
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (!base || !*base) base = "/tmp";
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    int w = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/treeindex-%u/%llx-%llx.sock",
                     base, (unsigned)getuid(), (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
    if (w < 0 || (size_t)w >= sizeof addr.sun_path) python_command();
    if (access(addr.sun_path, F_OK) != 0) python_command();

    /* the request, as client.py writes it */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || !valid_utf8((const unsigned char *)cwd)) python_command();
    Buf b = {0};
    puts_(&b, "    {\"argv\":[");
    for (int k = 0; k < argc; k++) {
        if (!valid_utf8((const unsigned char *)argv[k])) python_command();
        if (k) puts_(&b, ",");
        put_string(&b, argv[k], strlen(argv[k]));
    }
    puts_(&b, "],\"prog\":");
    const char *prog = strrchr(argv[0], '/');
    prog = prog ? prog + 1 : argv[0];
    put_string(&b, prog, strlen(prog));
    int fds[3], nfds = 0;
    puts_(&b, ",\"fds\":[");
    for (int fd = 0; fd < 3; fd++) {
        if (!is_open(fd)) continue;
        if (nfds) puts_(&b, ",");
        char num[4] = {(char)('0' + fd), 0};
        puts_(&b, num);
        fds[nfds++] = fd;
    }
    puts_(&b, "],\"cwd\":");
    put_string(&b, cwd, strlen(cwd));
    puts_(&b, ",\"env\":{");
    int first = 1;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;  /* (os.environ skips these; it keeps an empty name) */
        if (!valid_utf8((const unsigned char *)*e)) python_command();
        size_t klen = (size_t)(eq - *e);
        int seen = 0;  /* os.environ keeps a name's first value */
        for (char **p = environ; p < e; p++)
            if (strncmp(*p, *e, klen + 1) == 0) { seen = 1; break; }
        if (seen) continue;
        if (!first) puts_(&b, ",");
        first = 0;
        put_string(&b, *e, klen);
        puts_(&b, ":");
        put_string(&b, eq + 1, strlen(eq + 1));
    }
    puts_(&b, "},\"stdout\":");
    puts_(&b, is_open(1) ? out_errors : "null");
    puts_(&b, ",\"stderr\":");
    puts_(&b, is_open(2) ? "[\"utf-8\",\"backslashreplace\"]" : "null");
    puts_(&b, "}");
    uint32_t size = (uint32_t)(b.len - 4);
    memcpy(b.data, &size, 4);  /* (little-endian, as every Linux this runs on) */

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) python_command();
    struct timeval tv = {2, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(sock);
        python_command();
    }
    struct iovec iov = {b.data, b.len};
    char control[CMSG_SPACE(3 * sizeof(int))];
    memset(control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
    }
    size_t sent = 0;
    while (sent < b.len) {
        ssize_t n = sent ? send(sock, b.data + sent, b.len - sent, MSG_NOSIGNAL)
                         : sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { close(sock); asked(); }
        sent += (size_t)n;
    }
    char line[256], pending[256];
    size_t npending = 0;
    if (!read_line(sock, line, sizeof line, pending, &npending) ||
        strncmp(line, "pid ", 4) != 0) {
        close(sock);
        asked();  /* refused, or no answer */
    }
    pid_t pid = (pid_t)atol(line + 4);
    /* the go-ahead: the command runs only once it has it (client.py) */
    if (pid <= 0 || send(sock, "go", 2, MSG_NOSIGNAL) != 2) {
        close(sock);
        asked();
    }
    g_pid = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pass_on;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    struct timeval forever = {0, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof forever);
    if (!read_line(sock, line, sizeof line, pending, &npending) ||
        strncmp(line, "exit ", 5) != 0) {
        fprintf(stderr, "treeindex: the search server stopped before the search ended; run it "
                        "again (TREEINDEX_SERVER=off runs it without the server)\n");
        return 1;
    }
    return atoi(line + 5);
}
