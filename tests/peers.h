/*
 * Real peers for the sink tests, all on loopback, each a child process of
 * the test: the webhook receiver (build/bw-recv, path in $BW_RECV), Debian's
 * Alertmanager ($BW_ALERTMANAGER, default /usr/bin/prometheus-alertmanager)
 * and rsyslogd ($BW_RSYSLOGD, default /usr/sbin/rsyslogd). Every start
 * helper waits until its peer answers, returns 0, or -1 with the reason in
 * p->err (also printed on stderr); every stop sends SIGTERM, then SIGKILL
 * after 5 s, and reaps the child. Children die with the test (PDEATHSIG).
 */
#ifndef BW_PEERS_H
#define BW_PEERS_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct peer {
    pid_t pid;
    int port;       /* HTTP port (bw-recv, Alertmanager) or syslog TCP port */
    int udp_port;   /* syslog UDP port */
    char dir[1024]; /* the caller's directory for configs, state and logs */
    char err[512];  /* why the last helper failed */
};

/* ---- processes ---- */

static inline void peer_fail(struct peer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    fprintf(stderr, "peers: %s\n", p->err);
}

static inline void peer_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline long peer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline const char *peer_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/*
 * Forks and execs argv with stdout to out_fd (-1: inherited) and stderr to
 * err_fd (-1: inherited), in directory cwd (NULL: unchanged). The child gets
 * SIGTERM when the test dies. Returns the pid, or -1.
 */
static inline pid_t peer_spawn(char *const argv[], int out_fd, int err_fd, const char *cwd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(126);
    if (out_fd >= 0 && dup2(out_fd, 1) < 0)
        _exit(126);
    if (err_fd >= 0 && dup2(err_fd, 2) < 0)
        _exit(126);
    if (cwd && chdir(cwd) != 0)
        _exit(126);
    execv(argv[0], argv);
    _exit(127);
}

/* 1 while p's child runs; reaps it (and sets p->pid to 0) once it has exited. */
static inline int peer_alive(struct peer *p, int *status)
{
    int st = 0;
    if (p->pid <= 0)
        return 0;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return 1;
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    p->pid = 0;
    return 0;
}

/*
 * Stops p's child: SIGTERM, up to 5 s to exit, then SIGKILL. Returns its
 * exit status (128+signal when killed), or -1 when there was none.
 */
static inline int peer_stop(struct peer *p)
{
    int st = -1;
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    long deadline = peer_now_ms() + 5000;
    while (peer_alive(p, &st)) {
        if (peer_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            int raw = 0;
            while (waitpid(p->pid, &raw, 0) < 0 && errno == EINTR)
                ;
            p->pid = 0;
            return 128 + SIGKILL;
        }
        peer_sleep_ms(10);
    }
    return st;
}

/*
 * A loopback port that was free a moment ago (bound to port 0, read, then
 * closed), for SOCK_STREAM or SOCK_DGRAM; -1 on failure.
 */
static inline int peer_free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* 1 when a TCP connection to 127.0.0.1:port succeeds. */
static inline int peer_tcp_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0)
        return 0;
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/*
 * 1 when some socket is bound to UDP 127.0.0.1:port, read from
 * /proc/net/udp (binding it ourselves to find out could steal it).
 */
static inline int peer_udp_bound(int port)
{
    FILE *f = fopen("/proc/net/udp", "r");
    char line[512], want[32];
    int found = 0;
    if (!f)
        return 0;
    snprintf(want, sizeof want, "0100007F:%04X ", (unsigned)port);
    while (!found && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':'); /* after the slot number */
        found = colon && strncmp(colon + 2, want, strlen(want)) == 0;
    }
    fclose(f);
    return found;
}

/* Copies dir into p->dir; 0 ok, -1 when too long. */
static inline int peer_set_dir(struct peer *p, const char *dir)
{
    size_t n = strlen(dir);
    if (n >= sizeof p->dir) {
        peer_fail(p, "directory name too long: %s", dir);
        return -1;
    }
    memcpy(p->dir, dir, n + 1);
    return 0;
}

static inline int peer_path(struct peer *p, char *out, size_t outlen, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", p->dir, name);
    if (n < 0 || (size_t)n >= outlen) {
        peer_fail(p, "path too long: %s/%s", p->dir, name);
        return -1;
    }
    return 0;
}

static inline int peer_write(struct peer *p, const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        peer_fail(p, "cannot write %s: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

/* The last ~400 bytes of a log file, for error messages (static buffer). */
static inline const char *peer_log_tail(const char *path)
{
    static char tail[400];
    tail[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return tail;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (end > (long)sizeof tail - 1)
            fseek(f, end - (long)(sizeof tail - 1), SEEK_SET);
        else
            fseek(f, 0, SEEK_SET);
        size_t n = fread(tail, 1, sizeof tail - 1, f);
        tail[n] = '\0';
    }
    fclose(f);
    return tail;
}

/* ---- HTTP ---- */

struct peer_buf {
    char *data;
    size_t len;
};

static inline size_t peer_buf_write(char *d, size_t sz, size_t n, void *ud)
{
    struct peer_buf *b = ud;
    char *nd = realloc(b->data, b->len + sz * n + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, d, sz * n);
    b->data = nd;
    b->len += sz * n;
    b->data[b->len] = '\0';
    return sz * n;
}

/*
 * GET (body NULL) or POST (body given, Content-Type: application/json)
 * http://127.0.0.1:<p->port><path>; returns the HTTP status (0 when no
 * answer) and the response body in *out (malloc'd, may be NULL; out may be
 * NULL).
 */
static inline long peer_http(const struct peer *p, const char *path, const char *body, char **out)
{
    char url[2048];
    struct peer_buf b = {0};
    long status = 0;
    if (out)
        *out = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", p->port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (!c || !h)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, peer_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
out:
    curl_slist_free_all(h);
    if (c)
        curl_easy_cleanup(c);
    if (out)
        *out = b.data;
    else
        free(b.data);
    return status;
}

/* GET path and parse the answer; a new JSON value, or NULL unless 200 with JSON. */
static inline json_t *peer_get_json(const struct peer *p, const char *path)
{
    char *text = NULL;
    json_t *v = NULL;
    if (peer_http(p, path, NULL, &text) == 200 && text)
        v = json_loads(text, 0, NULL);
    free(text);
    return v;
}

/* ---- bw-recv ---- */

static inline const char *recv_bin(void)
{
    return peer_env("BW_RECV", "build/bw-recv");
}

/*
 * Starts bw-recv on a free loopback port; with hmac_secret (may be NULL) it
 * checks X-Byokwatch-Signature. p->dir is not used. 0 ok, -1 with p->err.
 */
static inline int recv_start(struct peer *p, const char *hmac_secret)
{
    char *argv[8] = {(char *)recv_bin(), "--port", "0", NULL};
    int fds[2], n = 3;
    memset(p, 0, sizeof *p);
    if (hmac_secret) {
        argv[n++] = "--hmac-secret";
        argv[n++] = (char *)hmac_secret;
    }
    argv[n] = NULL;
    if (pipe(fds) != 0) {
        peer_fail(p, "pipe: %s", strerror(errno));
        return -1;
    }
    p->pid = peer_spawn(argv, fds[1], -1, NULL);
    close(fds[1]);
    if (p->pid < 0) {
        close(fds[0]);
        peer_fail(p, "fork: %s", strerror(errno));
        p->pid = 0;
        return -1;
    }
    char line[64];
    size_t len = 0;
    long deadline = peer_now_ms() + 10000;
    while (len < sizeof line - 1) {
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        long left = deadline - peer_now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) == 0)
            break;
        ssize_t r = read(fds[0], line + len, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    if (sscanf(line, "listening %d", &p->port) != 1 || p->port <= 0) {
        peer_stop(p);
        peer_fail(p, "%s did not start (is it built? set BW_RECV)", recv_bin());
        return -1;
    }
    return 0;
}

/* Stops bw-recv; returns its exit status (0 on a clean SIGTERM exit). */
static inline int recv_stop(struct peer *p)
{
    return peer_stop(p);
}

/* GET /_recv/stats as a new JSON object, or NULL. */
static inline json_t *recv_stats(const struct peer *p)
{
    return peer_get_json(p, "/_recv/stats");
}

/* GET /_recv/requests?since=N (every delivery with headers and body), or NULL. */
static inline json_t *recv_requests(const struct peer *p, size_t since)
{
    char path[64];
    snprintf(path, sizeof path, "/_recv/requests?since=%zu", since);
    return peer_get_json(p, path);
}

/* POST /_recv/mode?<query> (e.g. "status=503&count=3&retry_after=2"); 0 ok. */
static inline int recv_mode(const struct peer *p, const char *query)
{
    char path[512];
    snprintf(path, sizeof path, "/_recv/mode?%s", query);
    return peer_http(p, path, "", NULL) == 200 ? 0 : -1;
}

/* POST /_recv/reset: forgets deliveries, ids, counters and the mode; 0 ok. */
static inline int recv_reset(const struct peer *p)
{
    return peer_http(p, "/_recv/reset", "", NULL) == 200 ? 0 : -1;
}

/* ---- Alertmanager ---- */

static inline const char *am_bin(void)
{
    return peer_env("BW_ALERTMANAGER", "/usr/bin/prometheus-alertmanager");
}

/*
 * Starts Alertmanager in dir (config dir/alertmanager.yml with one receiver
 * "null" without integrations, state in dir/am, output in dir/am.log) on a
 * free loopback port with clustering off, and waits up to 10 s for
 * GET /-/ready. 0 ok, -1 with p->err.
 */
static inline int am_start(struct peer *p, const char *dir)
{
    static const char yml[] = "route:\n"
                              "  receiver: \"null\"\n"
                              "  group_wait: 1s\n"
                              "  group_interval: 1s\n"
                              "receivers:\n"
                              "  - name: \"null\"\n";
    char conf[1100], state[1100], log[1100], flag_conf[1200], flag_state[1200], flag_listen[64];
    memset(p, 0, sizeof *p);
    if (peer_set_dir(p, dir))
        return -1;
    if (access(am_bin(), X_OK) != 0) {
        peer_fail(p, "%s not found (apt-get install prometheus-alertmanager)", am_bin());
        return -1;
    }
    if (peer_path(p, conf, sizeof conf, "alertmanager.yml") ||
        peer_path(p, state, sizeof state, "am") || peer_path(p, log, sizeof log, "am.log") ||
        peer_write(p, conf, yml))
        return -1;
    if (mkdir(state, 0700) != 0 && errno != EEXIST) {
        peer_fail(p, "mkdir %s: %s", state, strerror(errno));
        return -1;
    }
    snprintf(flag_conf, sizeof flag_conf, "--config.file=%s", conf);
    snprintf(flag_state, sizeof flag_state, "--storage.path=%s", state);
    for (int attempt = 0; attempt < 3; attempt++) {
        p->port = peer_free_port(SOCK_STREAM);
        snprintf(flag_listen, sizeof flag_listen, "--web.listen-address=127.0.0.1:%d", p->port);
        char *argv[] = {(char *)am_bin(),
                        flag_conf,
                        flag_state,
                        flag_listen,
                        "--cluster.listen-address=",
                        NULL};
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) {
            peer_fail(p, "open %s: %s", log, strerror(errno));
            return -1;
        }
        p->pid = peer_spawn(argv, fd, fd, dir);
        close(fd);
        if (p->pid < 0) {
            p->pid = 0;
            peer_fail(p, "fork: %s", strerror(errno));
            return -1;
        }
        long deadline = peer_now_ms() + 10000;
        while (peer_alive(p, NULL) && peer_now_ms() < deadline) {
            if (peer_http(p, "/-/ready", NULL, NULL) == 200)
                return 0;
            peer_sleep_ms(20);
        }
        if (p->pid > 0) { /* alive but not ready: do not retry */
            peer_stop(p);
            break;
        }
    }
    peer_fail(p, "alertmanager did not become ready; %s ends: %s", log, peer_log_tail(log));
    return -1;
}

/* Stops Alertmanager; returns its exit status. */
static inline int am_stop(struct peer *p)
{
    return peer_stop(p);
}

/*
 * GET /api/v2/alerts with active, silenced, inhibited and unprocessed alerts
 * (Alertmanager never lists resolved ones) as a new JSON array, or NULL.
 */
static inline json_t *am_alerts(const struct peer *p)
{
    return peer_get_json(
        p, "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true");
}

/* POST /api/v2/alerts with a JSON array of alerts; returns the HTTP status. */
static inline long am_post_alerts(const struct peer *p, const char *json_array)
{
    return peer_http(p, "/api/v2/alerts", json_array, NULL);
}

/* ---- rsyslog ---- */

static inline const char *rsyslogd_bin(void)
{
    return peer_env("BW_RSYSLOGD", "/usr/sbin/rsyslogd");
}

/*
 * Starts rsyslogd in the foreground in dir: imtcp on 127.0.0.1:p->port
 * (octet-counted or LF framing), imudp on 127.0.0.1:p->udp_port, work files
 * and pid in dir. Every message it receives is appended exactly as received
 * (%rawmsg%, minus framing) plus "\n" to dir/received.log, and as one JSON
 * object per line of its parsed fields (input, pri, version, timestamp,
 * hostname, app_name, procid, msgid, structured_data, msg) to
 * dir/parsed.jsonl; nothing else is written. Control characters arrive
 * escaped as #ooo (rsyslog's default): an embedded LF shows as #012. Its
 * own output goes to dir/rsyslogd.log. Waits up to 10 s until both ports
 * are bound. 0 ok, -1 with p->err.
 */
static inline int syslog_start(struct peer *p, const char *dir)
{
    char conf[1100], pid[1100], log[1100], recvd[1100], parsed[1100], text[8192];
    memset(p, 0, sizeof *p);
    if (peer_set_dir(p, dir))
        return -1;
    if (access(rsyslogd_bin(), X_OK) != 0) {
        peer_fail(p, "%s not found (apt-get install rsyslog)", rsyslogd_bin());
        return -1;
    }
    if (peer_path(p, conf, sizeof conf, "rsyslog.conf") ||
        peer_path(p, pid, sizeof pid, "rsyslogd.pid") ||
        peer_path(p, log, sizeof log, "rsyslogd.log") ||
        peer_path(p, recvd, sizeof recvd, "received.log") ||
        peer_path(p, parsed, sizeof parsed, "parsed.jsonl"))
        return -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        p->port = peer_free_port(SOCK_STREAM);
        p->udp_port = peer_free_port(SOCK_DGRAM);
        int n = snprintf(
            text, sizeof text,
            "global(workDirectory=\"%s\" maxMessageSize=\"64k\" net.enableDNS=\"off\")\n"
            "module(load=\"imtcp\")\n"
            "module(load=\"imudp\")\n"
            "template(name=\"bw_raw\" type=\"string\" string=\"%%rawmsg%%\\n\")\n"
            "template(name=\"bw_fields\" type=\"list\" option.jsonf=\"on\") {\n"
            "  property(outname=\"input\" name=\"inputname\" format=\"jsonf\")\n"
            "  property(outname=\"pri\" name=\"pri\" format=\"jsonf\")\n"
            "  property(outname=\"version\" name=\"protocol-version\" format=\"jsonf\")\n"
            "  property(outname=\"timestamp\" name=\"timereported\" dateFormat=\"rfc3339\" "
            "format=\"jsonf\")\n"
            "  property(outname=\"hostname\" name=\"hostname\" format=\"jsonf\")\n"
            "  property(outname=\"app_name\" name=\"app-name\" format=\"jsonf\")\n"
            "  property(outname=\"procid\" name=\"procid\" format=\"jsonf\")\n"
            "  property(outname=\"msgid\" name=\"msgid\" format=\"jsonf\")\n"
            "  property(outname=\"structured_data\" name=\"structured-data\" format=\"jsonf\")\n"
            "  property(outname=\"msg\" name=\"msg\" format=\"jsonf\")\n"
            "}\n"
            "ruleset(name=\"bw\") {\n"
            "  action(type=\"omfile\" file=\"%s\" template=\"bw_raw\")\n"
            "  action(type=\"omfile\" file=\"%s\" template=\"bw_fields\")\n"
            "}\n"
            "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"bw\")\n"
            "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"bw\")\n",
            dir, recvd, parsed, p->port, p->udp_port);
        if (n < 0 || (size_t)n >= sizeof text) {
            peer_fail(p, "rsyslog config too long");
            return -1;
        }
        if (peer_write(p, conf, text))
            return -1;
        char *argv[] = {(char *)rsyslogd_bin(), "-n", "-f", conf, "-i", pid, NULL};
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) {
            peer_fail(p, "open %s: %s", log, strerror(errno));
            return -1;
        }
        p->pid = peer_spawn(argv, fd, fd, dir);
        close(fd);
        if (p->pid < 0) {
            p->pid = 0;
            peer_fail(p, "fork: %s", strerror(errno));
            return -1;
        }
        long deadline = peer_now_ms() + 10000;
        while (peer_alive(p, NULL) && peer_now_ms() < deadline) {
            if (peer_tcp_open(p->port) && peer_udp_bound(p->udp_port))
                return 0;
            peer_sleep_ms(10);
        }
        if (p->pid > 0) {
            peer_stop(p);
            break;
        }
    }
    peer_fail(p, "rsyslogd did not start; %s ends: %s", log, peer_log_tail(log));
    return -1;
}

/* Stops rsyslogd (which flushes its files); returns its exit status. */
static inline int syslog_stop(struct peer *p)
{
    return peer_stop(p);
}

/*
 * Waits up to timeout_ms until dir/received.log holds at least n lines;
 * returns its content (malloc'd), or NULL on timeout (with p->err).
 */
static inline char *syslog_wait_lines(struct peer *p, size_t n, long timeout_ms)
{
    char path[1100];
    if (peer_path(p, path, sizeof path, "received.log"))
        return NULL;
    long deadline = peer_now_ms() + timeout_ms;
    size_t lines = 0;
    for (;;) {
        FILE *f = fopen(path, "rb");
        if (f) {
            struct peer_buf b = {0};
            char chunk[4096];
            size_t got;
            while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
                if (peer_buf_write(chunk, 1, got, &b) != got)
                    break;
            fclose(f);
            lines = 0;
            for (size_t i = 0; i < b.len; i++)
                lines += b.data[i] == '\n';
            if (lines >= n && b.data)
                return b.data;
            free(b.data);
        }
        if (peer_now_ms() >= deadline)
            break;
        peer_sleep_ms(10);
    }
    peer_fail(p, "%s has %zu lines after %ld ms, wanted %zu", path, lines, timeout_ms, n);
    return NULL;
}

/* The lines of dir/parsed.jsonl as a new JSON array of objects, or NULL. */
static inline json_t *syslog_parsed(struct peer *p)
{
    char path[1100];
    if (peer_path(p, path, sizeof path, "parsed.jsonl"))
        return NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    json_t *a = json_array();
    char line[70000];
    while (a && fgets(line, sizeof line, f)) {
        json_t *v = json_loads(line, 0, NULL);
        if (!v || json_array_append_new(a, v)) {
            json_decref(a);
            a = NULL;
        }
    }
    fclose(f);
    return a;
}

#endif
