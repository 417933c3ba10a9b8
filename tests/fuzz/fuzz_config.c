/*
 * libFuzzer target for the configuration loader: the input is written to a
 * scratch file and loaded with cfg_load(); a success is printed with
 * cfg_print_summary() (to /dev/null) and freed. The environment variables
 * the seeds in tests/fuzz/corpus/config/ name are set on the first call,
 * and every "@FUZZ_SECRET@" in the input becomes the path of a 0600 secret
 * file, so both *_env and *_file secrets get past validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../collector/config.h"
#include "fuzz.h"

#define SECRET_MARK "@FUZZ_SECRET@"

/* Variables the seeds name: the example config's, plus a few for error paths. */
static const char *const fz_env[][2] = {
    {"OPENAI_ADMIN_KEY", "sk-admin-fuzz-openai-0001"},
    {"ANTHROPIC_ADMIN_KEY", "sk-ant-admin-fuzz-0002"},
    {"MISTRAL_API_KEY", "mistral-fuzz-key-0003"},
    {"GROQ_API_KEY", "gsk_fuzz_key_000000004"},
    {"BYOKWATCH_INGEST_TOKEN", "ingest-token-fuzz-0005"},
    {"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T000/B000/fuzz0006"},
    {"SIEM_HMAC_SECRET", "siem-hmac-fuzz-0007"},
    {"SPLUNK_HEC_TOKEN", "splunk-token-fuzz-0008"},
    {"BW_FUZZ_KEY", "sk-fuzz-generic-key-0009"},
    {"BW_FUZZ_URL", "http://127.0.0.1:9/hook"},
    {"BW_FUZZ_NOT_URL", "not a url at all"},
    {"BW_FUZZ_EMPTY", ""},
    {"BW_FUZZ_NEWLINES", "\n\r\n"},
};

static char fz_secret_path[FZ_PATH_MAX];

static void fz_remove_secret(void)
{
    if (fz_secret_path[0])
        unlink(fz_secret_path);
}

/* Sets the environment and writes the secret file; once per process. */
static void fz_config_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    fz_quiet_log();
    for (size_t i = 0; i < sizeof fz_env / sizeof fz_env[0]; i++)
        FZ_CHECK(setenv(fz_env[i][0], fz_env[i][1], 1) == 0, "setenv");

    const char *dir = getenv("TMPDIR");
    int n = snprintf(fz_secret_path, sizeof fz_secret_path, "%s/bwfuzz-secret.XXXXXX",
                     dir && *dir ? dir : "/tmp");
    FZ_CHECK(n > 0 && (size_t)n < sizeof fz_secret_path, "secret path fits");
    int fd = mkstemp(fz_secret_path); /* mode 0600 */
    FZ_CHECK(fd >= 0, "mkstemp secret");
    FZ_CHECK(atexit(fz_remove_secret) == 0, "atexit");
    static const char value[] = "https://hooks.slack.com/services/T000/B000/fuzzfile\n";
    FZ_CHECK(write(fd, value, sizeof value - 1) == (ssize_t)(sizeof value - 1), "write secret");
    FZ_CHECK(close(fd) == 0, "close secret");
}

/* Where mark next occurs in data[from, size), or size. */
static size_t fz_find(const uint8_t *data, size_t size, size_t from, const char *mark)
{
    size_t m = strlen(mark);
    for (size_t i = from; i + m <= size; i++)
        if (memcmp(data + i, mark, m) == 0)
            return i;
    return size;
}

/*
 * A malloc'd copy of data with every SECRET_MARK replaced by the secret
 * file's path; its length in *outlen.
 */
static uint8_t *fz_expand(const uint8_t *data, size_t size, size_t *outlen)
{
    const uint8_t *path = (const uint8_t *)fz_secret_path; /* spliced in, not NUL-terminated */
    size_t mlen = strlen(SECRET_MARK), plen = strlen(fz_secret_path), marks = 0;
    for (size_t i = fz_find(data, size, 0, SECRET_MARK); i < size;
         i = fz_find(data, size, i + mlen, SECRET_MARK))
        marks++;
    size_t len = size - marks * mlen + marks * plen;
    uint8_t *buf = malloc(len ? len : 1);
    FZ_CHECK(buf != NULL, "malloc");
    size_t in = 0, out = 0;
    while (in < size) {
        size_t next = fz_find(data, size, in, SECRET_MARK);
        memcpy(buf + out, data + in, next - in);
        out += next - in;
        if (next == size)
            break;
        memcpy(buf + out, path, plen);
        out += plen;
        in = next + mlen;
    }
    *outlen = len;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_config_init();
    size_t len;
    uint8_t *text = fz_expand(data, size, &len);
    const char *path = fz_write_temp(text, len);
    free(text);

    struct config *cfg = NULL;
    char err[512];
    memset(err, 'x', sizeof err);
    int rc = cfg_load(path, &cfg, err, sizeof err);
    FZ_CHECK(rc == 0 || rc == -1, "cfg_load returns 0 or -1");
    if (fz_verbose())
        fprintf(stderr, "fuzz: config: rc=%d%s%.*s\n", rc, rc ? " err=" : "",
                rc ? (int)sizeof err : 0, err);
    if (rc == 0) {
        FZ_CHECK(cfg != NULL, "cfg_load sets *out on success");
        static FILE *devnull;
        if (!devnull)
            devnull = fopen("/dev/null", "w");
        FZ_CHECK(devnull != NULL, "open /dev/null");
        cfg_print_summary(cfg, devnull);
        cfg_free(cfg);
    } else {
        FZ_CHECK(cfg == NULL, "a failed cfg_load allocates nothing");
        FZ_CHECK(fz_err_ok(err, sizeof err), "a failed cfg_load says why in err");
    }
    return 0;
}
