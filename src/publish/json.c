/* JSON writer and minimal reader: see json.h for the contract. */
#include "publish/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/error.h"

void impa_json_init(impa_json_t *j)
{
    memset(j, 0, sizeof *j);
}

void impa_json_deinit(impa_json_t *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

void impa_json_reset(impa_json_t *j)
{
    j->len = 0;
    j->depth = 0;
    j->n_items[0] = 0;
    j->failed = 0;
    if (j->buf)
        j->buf[0] = '\0';
}

int impa_json_finish(const impa_json_t *j)
{
    if (j->failed)
        return IMPA_ENOMEM;
    return j->depth == 0 ? 0 : IMPA_EINVAL;
}

static int reserve(impa_json_t *j, size_t extra)
{
    if (j->failed)
        return -1;
    if (j->len + extra + 1 <= j->cap)
        return 0;
    size_t cap = j->cap ? j->cap : 1024;
    while (cap < j->len + extra + 1)
        cap *= 2;
    char *nb = realloc(j->buf, cap);
    if (!nb) {
        j->failed = 1;
        return -1;
    }
    j->buf = nb;
    j->cap = cap;
    return 0;
}

static void put(impa_json_t *j, const char *s, size_t n)
{
    if (reserve(j, n) != 0)
        return;
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void puts_(impa_json_t *j, const char *s)
{
    put(j, s, strlen(s));
}

void impa_json_escape(impa_json_t *j, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"': put(j, "\\\"", 2); break;
        case '\\': put(j, "\\\\", 2); break;
        case '\n': put(j, "\\n", 2); break;
        case '\r': put(j, "\\r", 2); break;
        case '\t': put(j, "\\t", 2); break;
        case '\b': put(j, "\\b", 2); break;
        case '\f': put(j, "\\f", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                put(j, tmp, 6);
            } else {
                put(j, (const char *)p, 1);
            }
        }
    }
}

/* Comma and key for the next value at the current level. */
static void value_prefix(impa_json_t *j, const char *key)
{
    if (j->n_items[j->depth]++ > 0)
        put(j, ",", 1);
    if (key) {
        put(j, "\"", 1);
        impa_json_escape(j, key);
        put(j, "\":", 2);
    }
}

static void open_(impa_json_t *j, const char *key, const char *bracket)
{
    value_prefix(j, key);
    puts_(j, bracket);
    if (j->depth + 1 >= IMPA_JSON_MAX_DEPTH) {
        j->failed = 1;
        return;
    }
    j->n_items[++j->depth] = 0;
}

static void close_(impa_json_t *j, const char *bracket)
{
    if (j->depth == 0) {
        j->failed = 1;
        return;
    }
    j->depth--;
    puts_(j, bracket);
}

void impa_json_obj_begin(impa_json_t *j, const char *key) { open_(j, key, "{"); }
void impa_json_obj_end(impa_json_t *j) { close_(j, "}"); }
void impa_json_arr_begin(impa_json_t *j, const char *key) { open_(j, key, "["); }
void impa_json_arr_end(impa_json_t *j) { close_(j, "]"); }

void impa_json_str(impa_json_t *j, const char *key, const char *val)
{
    value_prefix(j, key);
    if (!val) {
        puts_(j, "null");
        return;
    }
    put(j, "\"", 1);
    impa_json_escape(j, val);
    put(j, "\"", 1);
}

void impa_json_int(impa_json_t *j, const char *key, int64_t val)
{
    char tmp[32];
    value_prefix(j, key);
    snprintf(tmp, sizeof tmp, "%lld", (long long)val);
    puts_(j, tmp);
}

void impa_json_uint(impa_json_t *j, const char *key, uint64_t val)
{
    char tmp[32];
    value_prefix(j, key);
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)val);
    puts_(j, tmp);
}

void impa_json_num(impa_json_t *j, const char *key, double val)
{
    char tmp[40];
    value_prefix(j, key);
    if (!isfinite(val)) {
        puts_(j, "null");
        return;
    }
    snprintf(tmp, sizeof tmp, "%.10g", val);
    puts_(j, tmp);
}

void impa_json_bool(impa_json_t *j, const char *key, int val)
{
    value_prefix(j, key);
    puts_(j, val ? "true" : "false");
}

void impa_json_null(impa_json_t *j, const char *key)
{
    value_prefix(j, key);
    puts_(j, "null");
}

void impa_json_raw(impa_json_t *j, const char *key, const char *json, size_t len)
{
    value_prefix(j, key);
    put(j, json, len);
}

/* ------------------------------------------------------------------ reader */

typedef struct {
    const char *p, *end;
    impa_json_node_t *nodes;
    int n, max;
} parser_t;

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Scans a string starting at the opening quote; sets body and length. */
static int scan_string(parser_t *ps, const char **body, size_t *blen)
{
    if (ps->p >= ps->end || *ps->p != '"')
        return IMPA_EFORMAT;
    const char *s = ++ps->p;
    while (ps->p < ps->end && *ps->p != '"') {
        if (*ps->p == '\\')
            ps->p++;
        ps->p++;
    }
    if (ps->p >= ps->end)
        return IMPA_EFORMAT;
    *body = s;
    *blen = (size_t)(ps->p - s);
    ps->p++;
    return 0;
}

static int parse_value(parser_t *ps, int depth);

static int parse_container(parser_t *ps, int self, int is_obj, int depth)
{
    char close = is_obj ? '}' : ']';
    int last = -1;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t klen = 0;
        skip_ws(ps);
        if (is_obj) {
            if (scan_string(ps, &key, &klen) != 0)
                return IMPA_EFORMAT;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return IMPA_EFORMAT;
            ps->p++;
        }
        int child = parse_value(ps, depth + 1);
        if (child < 0)
            return child;
        ps->nodes[child].key = key;
        ps->nodes[child].key_len = klen;
        if (last < 0)
            ps->nodes[self].first_child = child;
        else
            ps->nodes[last].next = child;
        last = child;
        ps->nodes[self].n_children++;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return IMPA_EFORMAT;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return 0;
        }
        return IMPA_EFORMAT;
    }
}

static int parse_value(parser_t *ps, int depth)
{
    if (depth > 64)
        return IMPA_EFORMAT;
    skip_ws(ps);
    if (ps->p >= ps->end)
        return IMPA_EFORMAT;
    if (ps->n >= ps->max)
        return IMPA_ENOMEM;
    int self = ps->n++;
    impa_json_node_t *nd = &ps->nodes[self];
    memset(nd, 0, sizeof *nd);
    nd->first_child = nd->next = -1;
    char c = *ps->p;
    int rc = 0;
    if (c == '{' || c == '[') {
        nd->type = c == '{' ? IMPA_JSON_OBJ : IMPA_JSON_ARR;
        rc = parse_container(ps, self, c == '{', depth);
    } else if (c == '"') {
        nd->type = IMPA_JSON_STR;
        rc = scan_string(ps, &nd->str, &nd->str_len);
    } else if (ps->end - ps->p >= 4 && strncmp(ps->p, "true", 4) == 0) {
        nd->type = IMPA_JSON_BOOL, nd->num = 1, ps->p += 4;
    } else if (ps->end - ps->p >= 5 && strncmp(ps->p, "false", 5) == 0) {
        nd->type = IMPA_JSON_BOOL, nd->num = 0, ps->p += 5;
    } else if (ps->end - ps->p >= 4 && strncmp(ps->p, "null", 4) == 0) {
        nd->type = IMPA_JSON_NULL, ps->p += 4;
    } else {
        char tmp[64];
        size_t n = 0;
        while (ps->p + n < ps->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", ps->p[n]))
            n++;
        if (n == 0)
            return IMPA_EFORMAT;
        memcpy(tmp, ps->p, n);
        tmp[n] = '\0';
        char *endp;
        nd->type = IMPA_JSON_NUM;
        nd->num = strtod(tmp, &endp);
        if (*endp)
            return IMPA_EFORMAT;
        ps->p += n;
    }
    return rc < 0 ? rc : self;
}

int impa_json_parse(const char *text, size_t len, impa_json_node_t *nodes, int max_nodes)
{
    parser_t ps = {text, text + len, nodes, 0, max_nodes};
    int rc = parse_value(&ps, 0);
    if (rc < 0)
        return rc;
    skip_ws(&ps);
    if (ps.p != ps.end && *ps.p != '\0')
        return IMPA_EFORMAT;
    return ps.n;
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
    size_t o = 0;
    for (size_t i = 0; i < nodes[c].str_len && o + 1 < outlen; i++) {
        char ch = nodes[c].str[i];
        if (ch == '\\' && i + 1 < nodes[c].str_len) {
            char e = nodes[c].str[++i];
            switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': ch = '?'; i += 4; break;
            default: ch = e;
            }
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    return out;
}
