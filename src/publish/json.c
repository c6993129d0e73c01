/* JSON writer and reader on jansson: see json.h for the contract. */
#include "publish/json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"

/* Compact, keys in insertion order (jansson keeps it), %.10g reals. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10))

void impa_json_init(impa_json_t *j)
{
    memset(j, 0, sizeof *j);
}

void impa_json_deinit(impa_json_t *j)
{
    json_decref((json_t *)j->root);
    free(j->buf);
    memset(j, 0, sizeof *j);
}

void impa_json_reset(impa_json_t *j)
{
    json_decref((json_t *)j->root);
    j->root = NULL;
    j->len = 0;
    j->depth = 0;
    j->failed = 0;
    if (j->buf)
        j->buf[0] = '\0';
}

int impa_json_finish(impa_json_t *j)
{
    if (j->failed || !j->root)
        return IMPA_ENOMEM;
    if (j->depth != 0)
        return IMPA_EINVAL;
    size_t n = json_dumpb((json_t *)j->root, NULL, 0, DUMP_FLAGS);
    if (n == 0)
        return IMPA_ENOMEM;
    if (n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 1024;
        while (cap < n + 1)
            cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (!nb)
            return IMPA_ENOMEM;
        j->buf = nb, j->cap = cap;
    }
    if (json_dumpb((json_t *)j->root, j->buf, n, DUMP_FLAGS) != n)
        return IMPA_ENOMEM;
    j->buf[n] = '\0';
    j->len = n;
    return 0;
}

/* Adds v (reference stolen) to the open container, or as the document. */
static void add(impa_json_t *j, const char *key, json_t *v)
{
    if (!v) {
        j->failed = 1;
        return;
    }
    if (j->failed) {
        json_decref(v);
        return;
    }
    if (j->depth == 0) {
        json_decref((json_t *)j->root);
        j->root = v;
        return;
    }
    json_t *parent = (json_t *)j->stack[j->depth - 1];
    int rc = json_is_object(parent) ? json_object_set_new(parent, key ? key : "", v)
                                    : json_array_append_new(parent, v);
    if (rc)
        j->failed = 1;
}

static void open_(impa_json_t *j, const char *key, json_t *v)
{
    if (j->depth >= IMPA_JSON_MAX_DEPTH) {
        json_decref(v);
        j->failed = 1;
        return;
    }
    add(j, key, v);
    if (!j->failed)
        j->stack[j->depth++] = v; /* borrowed: the parent (or root) owns it */
}

static void close_(impa_json_t *j)
{
    if (j->depth > 0)
        j->depth--;
    else
        j->failed = 1;
}

void impa_json_obj_begin(impa_json_t *j, const char *key) { open_(j, key, json_object()); }
void impa_json_obj_end(impa_json_t *j) { close_(j); }
void impa_json_arr_begin(impa_json_t *j, const char *key) { open_(j, key, json_array()); }
void impa_json_arr_end(impa_json_t *j) { close_(j); }

/* jansson takes UTF-8 only: other bytes become '?'. */
static json_t *string_value(const char *val)
{
    json_t *v = json_string(val);
    if (v)
        return v;
    size_t n = strlen(val);
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        t[i] = (unsigned char)val[i] >= 0x80 ? '?' : val[i];
    v = json_string(t);
    free(t);
    return v;
}

void impa_json_str(impa_json_t *j, const char *key, const char *val)
{
    add(j, key, val ? string_value(val) : json_null());
}

void impa_json_int(impa_json_t *j, const char *key, int64_t val)
{
    add(j, key, json_integer((json_int_t)val));
}

void impa_json_uint(impa_json_t *j, const char *key, uint64_t val)
{
    add(j, key, val <= (uint64_t)INT64_MAX ? json_integer((json_int_t)val) : json_real((double)val));
}

void impa_json_num(impa_json_t *j, const char *key, double val)
{
    /* integral values as integers, as %.10g printed them (45, not 45.0) */
    if (!isfinite(val))
        add(j, key, json_null());
    else if (val == trunc(val) && fabs(val) < 1e15)
        add(j, key, json_integer((json_int_t)val));
    else
        add(j, key, json_real(val));
}

void impa_json_bool(impa_json_t *j, const char *key, int val)
{
    add(j, key, json_boolean(val));
}

void impa_json_null(impa_json_t *j, const char *key)
{
    add(j, key, json_null());
}

void impa_json_raw(impa_json_t *j, const char *key, const char *json, size_t len)
{
    json_error_t e;
    add(j, key, json_loadb(json, len, JSON_DECODE_ANY, &e));
}

/* ---- reader ---- */

typedef struct {
    impa_json_node_t *nodes;
    int n, max;
} flat_t;

static int flatten(flat_t *f, json_t *v, const char *key, int depth)
{
    if (depth > IMPA_JSON_MAX_DEPTH || f->n >= f->max)
        return -1;
    int self = f->n++;
    impa_json_node_t *nd = &f->nodes[self];
    memset(nd, 0, sizeof *nd);
    nd->first_child = nd->next = -1;
    if (key)
        nd->key = key, nd->key_len = strlen(key);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        nd->type = IMPA_JSON_OBJ;
        const char *k;
        json_t *c;
        int prev = -1;
        json_object_foreach(v, k, c) {
            int ci = f->n;
            if (flatten(f, c, k, depth + 1) < 0)
                return -1;
            if (prev < 0)
                f->nodes[self].first_child = ci;
            else
                f->nodes[prev].next = ci;
            prev = ci;
            f->nodes[self].n_children++;
        }
        break;
    }
    case JSON_ARRAY: {
        nd->type = IMPA_JSON_ARR;
        size_t i;
        json_t *c;
        int prev = -1;
        json_array_foreach(v, i, c) {
            int ci = f->n;
            if (flatten(f, c, NULL, depth + 1) < 0)
                return -1;
            if (prev < 0)
                f->nodes[self].first_child = ci;
            else
                f->nodes[prev].next = ci;
            prev = ci;
            f->nodes[self].n_children++;
        }
        break;
    }
    case JSON_STRING:
        nd->type = IMPA_JSON_STR;
        nd->str = json_string_value(v);
        nd->str_len = json_string_length(v);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        nd->type = IMPA_JSON_NUM;
        nd->num = json_number_value(v);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        nd->type = IMPA_JSON_BOOL;
        nd->num = json_is_true(v);
        break;
    default:
        nd->type = IMPA_JSON_NULL;
    }
    return self;
}

int impa_json_parse(const char *text, size_t len, impa_json_node_t *nodes, int max_nodes)
{
    if (!text || !nodes || max_nodes < 1)
        return IMPA_EINVAL;
    json_error_t e;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, &e);
    if (!doc)
        return IMPA_EFORMAT;
    flat_t f = {nodes, 0, max_nodes};
    if (flatten(&f, doc, NULL, 0) < 0) {
        json_decref(doc);
        return IMPA_ENOMEM;
    }
    nodes[0].doc = doc;
    return f.n;
}

void impa_json_parse_free(impa_json_node_t *nodes)
{
    if (nodes && nodes[0].doc) {
        json_decref((json_t *)nodes[0].doc);
        nodes[0].doc = NULL;
    }
}

int impa_json_get(const impa_json_node_t *nodes, int obj, const char *key)
{
    if (obj < 0 || nodes[obj].type != IMPA_JSON_OBJ)
        return -1;
    size_t kl = strlen(key);
    for (int c = nodes[obj].first_child; c >= 0; c = nodes[c].next)
        if (nodes[c].key_len == kl && memcmp(nodes[c].key, key, kl) == 0)
            return c;
    return -1;
}

double impa_json_get_num(const impa_json_node_t *nodes, int obj, const char *key, double dflt)
{
    int c = impa_json_get(nodes, obj, key);
    if (c < 0 || (nodes[c].type != IMPA_JSON_NUM && nodes[c].type != IMPA_JSON_BOOL))
        return dflt;
    return nodes[c].num;
}

const char *impa_json_get_str(const impa_json_node_t *nodes, int obj, const char *key,
                              char *out, size_t outlen, const char *dflt)
{
    int c = impa_json_get(nodes, obj, key);
    if (c < 0 || nodes[c].type != IMPA_JSON_STR || outlen == 0)
        return dflt;
    size_t n = nodes[c].str_len < outlen - 1 ? nodes[c].str_len : outlen - 1;
    memcpy(out, nodes[c].str, n);
    out[n] = '\0';
    return out;
}
