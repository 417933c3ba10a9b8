/*
 * libFuzzer target for collector/jsonscan.c, the pull tokenizer under the
 * hot page parsers: every input is tokenized to the end (or its error)
 * with both option sets, checking the scanner's contracts: it terminates,
 * depth stays within JS_MAX_DEPTH, an error has a reason and a position
 * inside the input, and every string and number token converts or fails
 * cleanly. Seeds: tests/fuzz/corpus/jsonscan/.
 */
#include <string.h>

#include "../../collector/jsonscan.h"
#include "fuzz.h"

static void scan(const uint8_t *data, size_t size, unsigned opts)
{
    struct js s;
    struct js_token t;
    char buf[256];
    js_init(&s, (const char *)data, size, opts);
    size_t tokens = 0;
    for (;;) {
        enum js_type ty = js_next(&s, &t);
        FZ_CHECK(js_depth(&s) <= JS_MAX_DEPTH, "depth stays within JS_MAX_DEPTH");
        if (ty == JS_EOF) {
            FZ_CHECK(js_error(&s) == JS_OK, "EOF carries no error");
            break;
        }
        if (ty == JS_ERROR) {
            FZ_CHECK(js_error(&s) != JS_OK, "an error has a reason");
            FZ_CHECK(js_error_offset(&s) <= size, "the error position is inside the input");
            int line = 0, col = 0;
            js_error_pos(&s, &line, &col);
            FZ_CHECK(line >= 1 && col >= 1, "error line and column are 1-based");
            const char *txt = js_error_text(&s, buf, sizeof buf);
            FZ_CHECK(txt && txt[0], "error text is not empty");
            break;
        }
        FZ_CHECK(++tokens <= size + 1, "the scanner makes progress");
        if (ty == JS_STRING || ty == JS_KEY) {
            size_t n = 0;
            if (js_string(&t, buf, sizeof buf, &n) == 0)
                FZ_CHECK(n < sizeof buf, "an unescaped string fits what was asked");
        } else if (ty == JS_NUMBER) {
            double d;
            int64_t i;
            uint64_t u;
            (void)js_num_double(&t, &d);
            (void)js_num_i64(&t, &i);
            (void)js_num_u53(&t, &u);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan(data, size, 0);
    scan(data, size, JS_OPT_REJECT_NUL | JS_OPT_NUM_RANGE);
    return 0;
}
