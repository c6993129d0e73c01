/* The project's one way to build (and, for impa-listen, read) JSON, on jansson
 * (libjansson, Debian's libjansson-dev).
 *
 * Writer: calls build a jansson tree (nesting tracked, keys in insertion order);
 * impa_json_finish serialises it compactly into buf (JSON_COMPACT, reals with 10
 * significant digits, as the hand-written writer printed them) and the buffer is
 * reused across messages (impa_json_reset). Strings are escaped by jansson (RFC
 * 8259); bytes that are not UTF-8 become '?' (jansson accepts UTF-8 only); NaN and
 * infinities become null because JSON has no spelling for them. An allocation
 * failure is sticky: impa_json_finish reports IMPA_ENOMEM.
 *
 * Reader: json_loadb, then the tree as a flat node array (node 0 the root) that
 * the getters walk; strings are decoded (escapes and \uXXXX). The array holds
 * the jansson document: release it with impa_json_parse_free. */
#ifndef IMPA_PUBLISH_JSON_H
#define IMPA_PUBLISH_JSON_H

#include <stddef.h>
#include <stdint.h>

#define IMPA_JSON_MAX_DEPTH 32

typedef struct {
    char *buf;          /* NUL-terminated text, len bytes (after impa_json_finish) */
    size_t len, cap;
    int depth;
    void *stack[IMPA_JSON_MAX_DEPTH]; /* open containers (json_t *, borrowed) */
    void *root;                       /* json_t *, owned */
    int failed;
} impa_json_t;

void impa_json_init(impa_json_t *j);
void impa_json_deinit(impa_json_t *j);
void impa_json_reset(impa_json_t *j);
/* Serialises into buf/len: 0, or IMPA_ENOMEM / IMPA_EINVAL (unbalanced nesting). */
int impa_json_finish(impa_json_t *j);

/* key is NULL inside arrays and at top level. */
void impa_json_obj_begin(impa_json_t *j, const char *key);
void impa_json_obj_end(impa_json_t *j);
void impa_json_arr_begin(impa_json_t *j, const char *key);
void impa_json_arr_end(impa_json_t *j);
void impa_json_str(impa_json_t *j, const char *key, const char *val); /* NULL -> null */
void impa_json_int(impa_json_t *j, const char *key, int64_t val);
void impa_json_uint(impa_json_t *j, const char *key, uint64_t val);
void impa_json_num(impa_json_t *j, const char *key, double val);     /* %.10g, NaN -> null */
void impa_json_bool(impa_json_t *j, const char *key, int val);
void impa_json_null(impa_json_t *j, const char *key);
/* Appends already-valid JSON text as one value. */
void impa_json_raw(impa_json_t *j, const char *key, const char *json, size_t len);

/* ---- reader ---- */
typedef enum {
    IMPA_JSON_NULL, IMPA_JSON_BOOL, IMPA_JSON_NUM, IMPA_JSON_STR, IMPA_JSON_ARR, IMPA_JSON_OBJ
} impa_json_type_t;

typedef struct {
    impa_json_type_t type;
    const char *key; size_t key_len;   /* member name when the parent is an object (decoded) */
    const char *str; size_t str_len;   /* IMPA_JSON_STR: the decoded string */
    double num;                        /* IMPA_JSON_NUM, IMPA_JSON_BOOL (0/1) */
    int n_children;
    int first_child, next;             /* node indices, -1 = none */
    void *doc;                         /* node 0: the jansson document (json_t *) */
} impa_json_node_t;

/* Parses text[0..len) (json_loadb, any value at the top) into nodes[0..max_nodes);
 * node 0 is the root. Returns the number of nodes or IMPA_EFORMAT / IMPA_ENOMEM
 * (too many nodes); on success release with impa_json_parse_free. */
int impa_json_parse(const char *text, size_t len, impa_json_node_t *nodes, int max_nodes);
void impa_json_parse_free(impa_json_node_t *nodes);
/* Child of object node `obj` named key, or -1. */
int impa_json_get(const impa_json_node_t *nodes, int obj, const char *key);
/* Convenience getters with defaults when missing or of the wrong type. */
double impa_json_get_num(const impa_json_node_t *nodes, int obj, const char *key, double dflt);
/* Copies a string member (decoded, truncated to outlen - 1 bytes) into out;
 * returns out, or dflt when missing. */
const char *impa_json_get_str(const impa_json_node_t *nodes, int obj, const char *key,
                              char *out, size_t outlen, const char *dflt);

#endif
