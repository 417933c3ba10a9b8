/*
 * Source positions for a JSON text. jansson's tree carries no line/column,
 * so the config loader re-scans the text it parsed and asks where the key
 * and the value at a key path (providers[0].poll_interval) start. Pure:
 * bytes in, a table out. Lines and columns are 1-based; columns count
 * characters (UTF-8 code points), as jansson's do.
 *
 * Key paths: an object member is ".key" after its parent ("key" at the top
 * level), or ["key"] with JSON string escapes when the key is empty or holds
 * '.', '[', ']', '"', '\\' or a control character; an array element is
 * "[index]". The root value has the empty path.
 */
#ifndef BW_JSONPOS_H
#define BW_JSONPOS_H

#include <stddef.h>

struct jpos_entry {
    const char *path;
    int key_line, key_col; /* the key's opening quote; 0 for the root and array elements */
    int val_line, val_col; /* the value's first character */
};

struct jpos;

/*
 * Scans text (len bytes) and records one entry per value, in document
 * order. On success returns 0 and *out (free with jpos_free). Returns -1
 * when the text is not well-formed JSON (the scanner never reads past len),
 * when nesting exceeds 4096 levels, or on allocation failure.
 */
int jpos_scan(const char *text, size_t len, struct jpos **out);

void jpos_free(struct jpos *p);

/* Returns the first entry with exactly this path, or NULL. */
const struct jpos_entry *jpos_find(const struct jpos *p, const char *path);

/*
 * Returns the earliest entry (in document order) that has a key and whose
 * path an earlier entry already had, i.e. the second occurrence of a
 * duplicate object key, or NULL when keys are unique. *first, when not
 * NULL, receives that earlier entry.
 */
const struct jpos_entry *jpos_first_duplicate(const struct jpos *p,
                                              const struct jpos_entry **first);

/*
 * Writes parent's path extended by object key `key` (or by array index
 * `index`) into buf. 0 ok, -1 when buf is too small (buf then holds a
 * truncated path).
 */
int jpos_path_key(char *buf, size_t len, const char *parent, const char *key);
int jpos_path_index(char *buf, size_t len, const char *parent, size_t index);

/* Length of path's parent prefix ("a.b[2]" -> 3, "a" -> 0, "" -> 0). */
size_t jpos_parent_len(const char *path);

#endif
