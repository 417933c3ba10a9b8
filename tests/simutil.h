/*
 * Helpers for tests that run the provider simulator (build/bw-sim, path in
 * $BW_SIM): start it on a free loopback port, talk to its control
 * endpoints with libcurl, stop it.
 */
#ifndef BW_SIMUTIL_H
#define BW_SIMUTIL_H

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct sim {
    pid_t pid;
    int port;
};

static inline const char *sim_bin(void)
{
    const char *b = getenv("BW_SIM");
    return b && *b ? b : "build/bw-sim";
}

/* Starts the simulator with extra args (NULL-terminated); 0 ok. */
static inline int sim_start(struct sim *s, const char *const extra[])
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    const char *argv[40];
    int n = 0;
    argv[n++] = sim_bin();
    argv[n++] = "--port";
    argv[n++] = "0";
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[128];
    s->pid = pid;
    s->port = 0;
    if (f && fgets(line, sizeof line, f))
        sscanf(line, "listening %d", &s->port);
    if (f)
        fclose(f);
    return s->port > 0 ? 0 : -1;
}

/*
 * Starts the simulator as most end-to-end tests use it: days of history up to
 * now, seed 7, the two admin keys it accepts, and scenario (NULL: its
 * default, steady). 0 ok.
 */
static inline int sim_start_month(struct sim *s, const char *now, const char *days,
                                  const char *scenario, const char *openai_key,
                                  const char *anthropic_key)
{
    const char *args[] = {"--now",
                          now,
                          "--days",
                          days,
                          "--seed",
                          "7",
                          "--openai-key",
                          openai_key,
                          "--anthropic-key",
                          anthropic_key,
                          scenario ? "--scenario" : NULL,
                          scenario,
                          NULL};
    return sim_start(s, args);
}

/*
 * The config's "providers" member for the simulator's two accounts
 * (acme-openai, acme-claude; keys from $BW_T_OPENAI and $BW_T_ANTHROPIC;
 * 35 days of backfill), with a trailing comma. 0 ok, -1 when len is short.
 */
static inline int sim_providers_json(const struct sim *s, char *buf, size_t len)
{
    int n = snprintf(
        buf, len,
        "  \"providers\": [\n"
        "    {\"type\": \"openai\", \"name\": \"acme-openai\",\n"
        "     \"base_url\": \"http://127.0.0.1:%d/v1\", \"admin_key_env\": \"BW_T_OPENAI\",\n"
        "     \"backfill\": \"35d\"},\n"
        "    {\"type\": \"anthropic\", \"name\": \"acme-claude\",\n"
        "     \"base_url\": \"http://127.0.0.1:%d\", \"admin_key_env\": \"BW_T_ANTHROPIC\",\n"
        "     \"backfill\": \"35d\"}\n"
        "  ],\n",
        s->port, s->port);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Stops the simulator with SIGTERM; returns its exit status. */
static inline int sim_stop(struct sim *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct sim_buf {
    char *data;
    size_t len;
};

static inline size_t sim_write(char *p, size_t sz, size_t n, void *ud)
{
    struct sim_buf *b = ud;
    char *nd = realloc(b->data, b->len + sz * n + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, p, sz * n);
    b->data = nd;
    b->len += sz * n;
    b->data[b->len] = '\0';
    return sz * n;
}

/*
 * GET (body NULL) or POST (body given) http://127.0.0.1:<port><path>;
 * returns the HTTP status and the response body in *out (malloc'd, may be
 * NULL). headers may be NULL.
 */
static inline long sim_http(const struct sim *s, const char *path, const char *body,
                            struct curl_slist *headers, char **out)
{
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    CURL *c = curl_easy_init();
    struct sim_buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (out)
        *out = b.data;
    else
        free(b.data);
    return status;
}

#endif
