/* Weights loader (docs/model.md, "Weights file"): reads every global attribute
 * and range-checks it, derives the complete list of tensors and shapes from
 * those attributes, and refuses any file that differs from it (missing tensor,
 * other shape, other type, unexpected extra variable). On success the tensors
 * live back to back in one blob and the model's parameter structs point into it. */
#include "engine-impl.h"

#include <math.h>
#include <netcdf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/sha256.h"

/* Range limits for the attributes. They bound memory and the stack arrays of
 * the kernels; real models sit far inside them. */
#define MAX_T_IN 32
#define MAX_T_OUT 64
#define MAX_HID_S 1024
#define MAX_HID_T 4096
#define MAX_BLOCKS 64
#define MAX_KERNEL 31
#define MAX_DILATION 16
#define MAX_MLP_RATIO 16

/* One expected tensor: name, shape, and where the loader stores its pointer. */
typedef struct {
    char name[96];
    int nd;
    size_t shape[4];
    const float **dst;
} tensor_spec_t;

typedef struct {
    tensor_spec_t *v;
    size_t n, cap;
} spec_list_t;

static int spec_add(spec_list_t *l, const float **dst, int nd, size_t d0, size_t d1, size_t d2,
                    size_t d3, const char *fmt, ...) IMPA_PRINTF(8, 9);

static int spec_add(spec_list_t *l, const float **dst, int nd, size_t d0, size_t d1, size_t d2,
                    size_t d3, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        tensor_spec_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return IMPA_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    tensor_spec_t *t = &l->v[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    t->nd = nd;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->shape[3] = d3;
    t->dst = dst;
    return 0;
}

/* A convolution "<prefix>.weight" [out][in_per_group][k][k] and "<prefix>.bias" [out]. */
static int spec_conv(spec_list_t *l, impa_conv_param_t *p, size_t out, size_t in_pg, size_t k,
                     const char *prefix)
{
    int rc = spec_add(l, &p->w, 4, out, in_pg, k, k, "%s.weight", prefix);
    if (rc == 0)
        rc = spec_add(l, &p->b, 1, out, 0, 0, 0, "%s.bias", prefix);
    return rc;
}

static int spec_norm(spec_list_t *l, impa_norm_param_t *p, size_t c, const char *prefix)
{
    int rc = spec_add(l, &p->w, 1, c, 0, 0, 0, "%s.weight", prefix);
    if (rc == 0)
        rc = spec_add(l, &p->b, 1, c, 0, 0, 0, "%s.bias", prefix);
    return rc;
}

/* The full tensor list of docs/model.md for the model's hyper-parameters. */
static int build_specs(impa_model_t *m, spec_list_t *l)
{
    const impa_model_info_t *I = &m->info;
    size_t C = (size_t)I->n_fields, S = (size_t)I->hid_s, T = (size_t)I->hid_t;
    size_t Tm = T * (size_t)I->mlp_ratio, Tr = T / (size_t)I->se_reduction;
    char pre[80];
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        snprintf(pre, sizeof(pre), "enc.%d.conv", i);
        rc = spec_conv(l, &m->enc_conv[i], S, i == 0 ? C : S, 3, pre);
        snprintf(pre, sizeof(pre), "enc.%d.norm", i);
        if (rc == 0)
            rc = spec_norm(l, &m->enc_norm[i], S, pre);
    }
    if (rc == 0)
        rc = spec_conv(l, &m->trans_inp, T, (size_t)impa_model_input_frames(m) * S, 1,
                       "trans.inp");
    for (int b = 0; b < I->n_blocks && rc == 0; b++) {
        impa_block_param_t *B = &m->blocks[b];
        char p2[120];
#define BLK(suffix) (snprintf(p2, sizeof(p2), "trans.blocks.%d.%s", b, suffix), p2)
        rc = spec_norm(l, &B->norm1, T, BLK("norm1"));
        if (rc == 0)
            rc = spec_conv(l, &B->attn_v, T, T, 1, BLK("attn.v"));
        for (int j = 0; j < I->n_branches && rc == 0; j++) {
            snprintf(pre, sizeof(pre), "attn.branches.%d", j);
            rc = spec_conv(l, &B->branch[j], T, 1, (size_t)I->branch_kernels[j], BLK(pre));
        }
        if (rc == 0)
            rc = spec_conv(l, &B->attn_fuse, T, T, 1, BLK("attn.fuse"));
        if (rc == 0)
            rc = spec_conv(l, &B->attn_proj, T, T, 1, BLK("attn.proj"));
        if (rc == 0)
            rc = spec_norm(l, &B->norm2, T, BLK("norm2"));
        if (rc == 0)
            rc = spec_conv(l, &B->se_fc1, Tr, T, 1, BLK("se.fc1"));
        if (rc == 0)
            rc = spec_conv(l, &B->se_fc2, T, Tr, 1, BLK("se.fc2"));
        if (rc == 0)
            rc = spec_norm(l, &B->norm3, T, BLK("norm3"));
        if (rc == 0)
            rc = spec_conv(l, &B->mlp_fc1, Tm, T, 1, BLK("mlp.fc1"));
        if (rc == 0)
            rc = spec_conv(l, &B->mlp_dw, Tm, 1, 3, BLK("mlp.dw"));
        if (rc == 0)
            rc = spec_conv(l, &B->mlp_fc2, T, Tm, 1, BLK("mlp.fc2"));
#undef BLK
    }
    if (rc == 0)
        rc = spec_conv(l, &m->trans_out, (size_t)I->t_out * S, T, 1, "trans.out");
    for (int i = 0; i < 3 && rc == 0; i++) {
        snprintf(pre, sizeof(pre), "dec.%d.conv", i);
        rc = spec_conv(l, &m->dec_conv[i], i < 2 ? 4 * S : S, S, 3, pre);
        snprintf(pre, sizeof(pre), "dec.%d.norm", i);
        if (rc == 0)
            rc = spec_norm(l, &m->dec_norm[i], S, pre);
    }
    if (rc == 0)
        rc = spec_conv(l, &m->readout, 1, S, 1, "readout");
    return rc;
}

/* The weights of the 3x3 convolutions (enc.0-2, dec.0-2) packed once for the
 * direct kernels (impa_conv_pack): [in*9][out] each, in m->packed. */
static int pack_direct(impa_model_t *m, char *err, size_t errlen, const char *path)
{
    const impa_model_info_t *I = &m->info;
    int C = I->n_fields, S = I->hid_s;
    impa_conv_param_t *p[6] = {&m->enc_conv[0], &m->enc_conv[1], &m->enc_conv[2],
                               &m->dec_conv[0], &m->dec_conv[1], &m->dec_conv[2]};
    int cout[6] = {S, S, S, 4 * S, 4 * S, S}, kk[6] = {C * 9, S * 9, S * 9, S * 9, S * 9, S * 9};
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        n += (size_t)cout[i] * kk[i];
    m->packed = malloc(n * sizeof(float));
    if (!m->packed)
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory (%zu floats)", path, n);
    float *dst = m->packed;
    for (int i = 0; i < 6; i++) {
        impa_conv_pack(p[i]->w, cout[i], kk[i], dst);
        p[i]->wt = dst;
        dst += (size_t)cout[i] * kk[i];
    }
    return 0;
}

static void shape_str(char *buf, size_t len, int nd, const size_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < nd && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%zu", i ? "," : "", shape[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* ---- attributes ------------------------------------------------------------ */

/* Text attribute into buf (NUL-terminated). required=0: absent -> "". */
static int att_text(int ncid, const char *path, const char *name, char *buf, size_t len,
                    int required, char *err, size_t errlen)
{
    nc_type type;
    size_t n;
    buf[0] = '\0';
    if (nc_inq_att(ncid, NC_GLOBAL, name, &type, &n) != NC_NOERR) {
        if (!required)
            return 0;
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' is missing", path, name);
    }
    if (type == NC_STRING && n == 1) {
        /* netCDF-4 string attribute (xarray and some netCDF4-python writes) */
        char *str = NULL;
        int st = nc_get_att_string(ncid, NC_GLOBAL, name, &str);
        if (st != NC_NOERR)
            return impa_err(err, errlen, IMPA_EIO, "%s: attribute '%s': %s", path, name,
                            nc_strerror(st));
        snprintf(buf, len, "%s", str ? str : "");
        nc_free_string(1, &str);
        return 0;
    }
    if (type != NC_CHAR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' must be text", path,
                        name);
    char *tmp = malloc(n + 1);
    if (!tmp)
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory", path);
    int st = nc_get_att_text(ncid, NC_GLOBAL, name, tmp);
    if (st != NC_NOERR) {
        free(tmp);
        return impa_err(err, errlen, IMPA_EIO, "%s: attribute '%s': %s", path, name,
                        nc_strerror(st));
    }
    tmp[n] = '\0';
    /* Trailing NULs are common in text attributes written by other tools. */
    snprintf(buf, len, "%s", tmp);
    free(tmp);
    return 0;
}

/* Integer array attribute of exactly `want` values (want < 0: 1..-want values,
 * count returned in *count). Every value must lie in [lo, hi]. */
static int att_ints(int ncid, const char *path, const char *name, int *out, int want,
                    int *count, int lo, int hi, char *err, size_t errlen)
{
    nc_type type;
    size_t n;
    if (nc_inq_att(ncid, NC_GLOBAL, name, &type, &n) != NC_NOERR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' is missing", path, name);
    if (type == NC_CHAR || type == NC_STRING || type == NC_FLOAT || type == NC_DOUBLE)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' must be an integer",
                        path, name);
    if ((want >= 0 && n != (size_t)want) || (want < 0 && (n < 1 || n > (size_t)-want)))
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: attribute '%s' has %zu values, expected %s%d", path, name, n,
                        want < 0 ? "1 to " : "", want < 0 ? -want : want);
    int tmp[64];
    int st = nc_get_att_int(ncid, NC_GLOBAL, name, tmp);
    if (st != NC_NOERR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s': %s", path, name,
                        nc_strerror(st));
    for (size_t i = 0; i < n; i++) {
        if (tmp[i] < lo || tmp[i] > hi)
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s: attribute '%s' = %d out of range [%d, %d]", path, name,
                            tmp[i], lo, hi);
        out[i] = tmp[i];
    }
    if (count)
        *count = (int)n;
    return 0;
}

static int att_int(int ncid, const char *path, const char *name, int *out, int lo, int hi,
                   char *err, size_t errlen)
{
    return att_ints(ncid, path, name, out, 1, NULL, lo, hi, err, errlen);
}

/* Float array attribute of exactly `want` values, each in (lo, hi] if
 * open_lo, else [lo, hi]. */
static int att_floats(int ncid, const char *path, const char *name, float *out, int want,
                      double lo, double hi, int open_lo, char *err, size_t errlen)
{
    nc_type type;
    size_t n;
    if (nc_inq_att(ncid, NC_GLOBAL, name, &type, &n) != NC_NOERR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' is missing", path, name);
    if (type == NC_CHAR || type == NC_STRING)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' must be numeric", path,
                        name);
    if (n != (size_t)want)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: attribute '%s' has %zu values, expected %d", path, name, n, want);
    double tmp[IMPA_MAX_FIELDS];
    int st = nc_get_att_double(ncid, NC_GLOBAL, name, tmp);
    if (st != NC_NOERR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s': %s", path, name,
                        nc_strerror(st));
    for (int i = 0; i < want; i++) {
        /* written as !(in range) so that NaN is refused too */
        if (!((open_lo ? tmp[i] > lo : tmp[i] >= lo) && tmp[i] <= hi))
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s: attribute '%s' = %g out of range %c%g, %g]", path, name,
                            tmp[i], open_lo ? '(' : '[', lo, hi);
        out[i] = (float)tmp[i];
    }
    return 0;
}

/* Splits "a,b,c" into at most IMPA_MAX_FIELDS trimmed items of < 32 chars. */
static int split_list(const char *path, const char *name, const char *text,
                      char items[IMPA_MAX_FIELDS][32], int *count, char *err, size_t errlen)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= 32)
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' = '%s': empty or "
                            "too long item", path, name, text);
        if (n == IMPA_MAX_FIELDS)
            return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute '%s' has more than %d "
                            "items", path, name, IMPA_MAX_FIELDS);
        memcpy(items[n], p, len);
        items[n][len] = '\0';
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    *count = n;
    return 0;
}

static int read_attributes(int ncid, const char *path, impa_model_info_t *I, char *err,
                           size_t errlen)
{
    char text[512];
    int rc, v;
    rc = att_text(ncid, path, "format", text, sizeof(text), 1, err, errlen);
    if (rc)
        return rc;
    if (strcmp(text, IMPA_WEIGHTS_FORMAT) != 0)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: format '%s', expected '%s'", path,
                        text, IMPA_WEIGHTS_FORMAT);
    rc = att_int(ncid, path, "format_version", &v, -2147483647, 2147483647, err, errlen);
    if (rc)
        return rc;
    if (v != IMPA_WEIGHTS_FORMAT_VERSION)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: format_version %d, expected %d", path,
                        v, IMPA_WEIGHTS_FORMAT_VERSION);

    if ((rc = att_text(ncid, path, "model_name", I->model_name, sizeof(I->model_name), 0, err,
                       errlen)) ||
        (rc = att_text(ncid, path, "model_version", I->model_version,
                       sizeof(I->model_version), 0, err, errlen)) ||
        (rc = att_text(ncid, path, "description", I->description, sizeof(I->description), 0,
                       err, errlen)))
        return rc;

    rc = att_text(ncid, path, "fields", text, sizeof(text), 1, err, errlen);
    if (rc == 0)
        rc = split_list(path, "fields", text, I->field_names, &I->n_fields, err, errlen);
    if (rc)
        return rc;
    if (strcmp(I->field_names[0], "reflectivity") != 0)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: attribute 'fields': first field is '%s', expected 'reflectivity'",
                        path, I->field_names[0]);
    int C = I->n_fields;
    char tr[IMPA_MAX_FIELDS][32];
    int ntr = 0;
    rc = att_text(ncid, path, "norm_transform", text, sizeof(text), 1, err, errlen);
    if (rc == 0)
        rc = split_list(path, "norm_transform", text, tr, &ntr, err, errlen);
    if (rc)
        return rc;
    if (ntr != C)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: attribute 'norm_transform' has %d items, expected %d (fields)",
                        path, ntr, C);
    for (int f = 0; f < C; f++) {
        if (strcmp(tr[f], "linear") == 0)
            I->norm_transform[f] = IMPA_NORM_LINEAR;
        else if (strcmp(tr[f], "log10p1") == 0)
            I->norm_transform[f] = IMPA_NORM_LOG10P1;
        else
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s: attribute 'norm_transform': unknown transform '%s' for field "
                            "'%s' (expected linear or log10p1)", path, tr[f], I->field_names[f]);
    }
    if (I->norm_transform[0] != IMPA_NORM_LINEAR)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: attribute 'norm_transform': field 0 "
                        "(reflectivity) must be linear", path);
    if ((rc = att_floats(ncid, path, "norm_offset", I->norm_offset, C, -1e9, 1e9, 0, err,
                         errlen)) ||
        (rc = att_floats(ncid, path, "norm_scale", I->norm_scale, C, 0.0, 1e9, 1, err,
                         errlen)) ||
        (rc = att_floats(ncid, path, "norm_min", I->norm_min, C, -1e9, 1e9, 0, err, errlen)) ||
        (rc = att_floats(ncid, path, "norm_max", I->norm_max, C, -1e9, 1e9, 0, err, errlen)))
        return rc;
    for (int f = 0; f < C; f++) {
        if (I->norm_min[f] > I->norm_max[f])
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s: field '%s': norm_min %g > norm_max %g", path,
                            I->field_names[f], I->norm_min[f], I->norm_max[f]);
    }

    if ((rc = att_int(ncid, path, "t_in", &I->t_in, 1, MAX_T_IN, err, errlen)) ||
        (rc = att_int(ncid, path, "t_out", &I->t_out, 1, MAX_T_OUT, err, errlen)) ||
        (rc = att_int(ncid, path, "step_minutes", &I->step_minutes, 1, 1440, err, errlen)) ||
        (rc = att_int(ncid, path, "hid_s", &I->hid_s, 1, MAX_HID_S, err, errlen)) ||
        (rc = att_int(ncid, path, "hid_t", &I->hid_t, 1, MAX_HID_T, err, errlen)) ||
        (rc = att_int(ncid, path, "n_blocks", &I->n_blocks, 0, MAX_BLOCKS, err, errlen)) ||
        (rc = att_int(ncid, path, "norm_groups", &I->norm_groups, 1, MAX_HID_S, err,
                      errlen)) ||
        (rc = att_int(ncid, path, "se_reduction", &I->se_reduction, 1, MAX_HID_T, err,
                      errlen)) ||
        (rc = att_int(ncid, path, "mlp_ratio", &I->mlp_ratio, 1, MAX_MLP_RATIO, err,
                      errlen)) ||
        (rc = att_ints(ncid, path, "branch_kernels", I->branch_kernels, -IMPA_MAX_BRANCHES,
                       &I->n_branches, 1, MAX_KERNEL, err, errlen)) ||
        (rc = att_ints(ncid, path, "branch_dilations", I->branch_dilations,
                       I->n_branches, NULL, 1, MAX_DILATION, err, errlen)) ||
        (rc = att_int(ncid, path, "spatial_mixer", &I->spatial_mixer, 0, 1, err, errlen)) ||
        (rc = att_int(ncid, path, "residual", &I->residual, 0, 1, err, errlen)) ||
        (rc = att_int(ncid, path, "total_stride", &I->total_stride, 4, 4, err, errlen)) ||
        (rc = att_floats(ncid, path, "gn_eps", &I->gn_eps, 1, 0.0, 0.1, 1, err, errlen)) ||
        (rc = att_floats(ncid, path, "zr_a", &I->zr_a, 1, 0.0, 1e6, 1, err, errlen)) ||
        (rc = att_floats(ncid, path, "zr_b", &I->zr_b, 1, 0.0, 100.0, 1, err, errlen)))
        return rc;
    /* Optional: the advection-guided variant came after format_version 1 files
     * were shipped; absent means the plain network. */
    I->advection = 0;
    nc_type at;
    if (nc_inq_atttype(ncid, NC_GLOBAL, "advection", &at) == NC_NOERR &&
        (rc = att_int(ncid, path, "advection", &I->advection, 0, 1, err, errlen)))
        return rc;
    /* Optional: the extrapolation scheme of the advection input (absent: the
     * scheme every earlier file was trained on) */
    if ((rc = att_text(ncid, path, "extrapolation", I->extrapolation,
                       sizeof I->extrapolation, 0, err, errlen)))
        return rc;
    if (!I->extrapolation[0])
        snprintf(I->extrapolation, sizeof I->extrapolation, "impa-extrap-1");
    /* Optional as well: the size-independent variant (norm_local, se_window);
     * absent means GroupNorm over the grid and the SE gate from the grid mean. */
    I->norm_local = 0;
    I->se_window = 0;
    if (nc_inq_atttype(ncid, NC_GLOBAL, "norm_local", &at) == NC_NOERR &&
        (rc = att_int(ncid, path, "norm_local", &I->norm_local, 0, 1, err, errlen)))
        return rc;
    if (nc_inq_atttype(ncid, NC_GLOBAL, "se_window", &at) == NC_NOERR &&
        (rc = att_int(ncid, path, "se_window", &I->se_window, 0, IMPA_MAX_SE_WINDOW, err,
                      errlen)))
        return rc;
    /* the window is centred on its pixel (PyTorch padding k // 2): odd sides only */
    if (I->se_window % 2 == 0 && I->se_window != 0)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: attribute 'se_window' = %d must be 0 (grid mean) or odd", path,
                        I->se_window);
    for (int j = 0; j < I->n_branches; j++) {
        if (I->branch_kernels[j] % 2 == 0)
            return impa_err(err, errlen, IMPA_EFORMAT,
                            "%s: attribute 'branch_kernels' = %d must be odd", path,
                            I->branch_kernels[j]);
    }
    if (I->hid_s % I->norm_groups != 0 || I->hid_t % I->norm_groups != 0)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: attribute 'norm_groups' = %d must divide hid_s %d and hid_t %d",
                        path, I->norm_groups, I->hid_s, I->hid_t);
    if (I->hid_t % I->se_reduction != 0)
        return impa_err(err, errlen, IMPA_EFORMAT,
                        "%s: attribute 'se_reduction' = %d must divide hid_t %d", path,
                        I->se_reduction, I->hid_t);
    return 0;
}

/* ---- tensors --------------------------------------------------------------- */

static int check_tensor(int ncid, const char *path, const tensor_spec_t *t, int *varid,
                        char *err, size_t errlen)
{
    char want[64], got[64];
    shape_str(want, sizeof(want), t->nd, t->shape);
    if (nc_inq_varid(ncid, t->name, varid) != NC_NOERR)
        return impa_err(err, errlen, IMPA_ENOTFOUND,
                        "%s: tensor '%s' is missing (expected shape %s)", path, t->name, want);
    nc_type type;
    int nd, dims[NC_MAX_VAR_DIMS];
    int st = nc_inq_var(ncid, *varid, NULL, &type, &nd, dims, NULL);
    if (st != NC_NOERR)
        return impa_err(err, errlen, IMPA_EIO, "%s: tensor '%s': %s", path, t->name,
                        nc_strerror(st));
    if (type != NC_FLOAT)
        return impa_err(err, errlen, IMPA_EFORMAT, "%s: tensor '%s' is not float32", path,
                        t->name);
    size_t shape[NC_MAX_VAR_DIMS];
    int same = nd == t->nd;
    for (int i = 0; i < nd && i < NC_MAX_VAR_DIMS; i++) {
        nc_inq_dimlen(ncid, dims[i], &shape[i]);
        if (same && shape[i] != t->shape[i])
            same = 0;
    }
    if (!same) {
        shape_str(got, sizeof(got), nd > 8 ? 8 : nd, shape);
        return impa_err(err, errlen, IMPA_ESHAPE, "%s: tensor '%s' has shape %s, expected %s",
                        path, t->name, got, want);
    }
    return 0;
}

static size_t spec_floats(const tensor_spec_t *t)
{
    size_t n = 1;
    for (int i = 0; i < t->nd; i++)
        n *= t->shape[i];
    return n;
}

int impa_model_load(const char *path, impa_model_t **out, char *err, size_t errlen)
{
    if (!path || !out)
        return impa_err(err, errlen, IMPA_EINVAL, "impa_model_load: NULL argument");
    *out = NULL;
    int ncid = -1, rc = 0;
    spec_list_t specs = {0};
    impa_model_t *m = calloc(1, sizeof(*m));
    if (!m)
        return impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory", path);
    int st = nc_open(path, NC_NOWRITE, &ncid);
    if (st != NC_NOERR) {
        ncid = -1;
        rc = impa_err(err, errlen, IMPA_EIO, "%s: cannot open: %s", path, nc_strerror(st));
        goto done;
    }
    rc = read_attributes(ncid, path, &m->info, err, errlen);
    if (rc)
        goto done;
    if (m->info.n_blocks > 0) {
        m->blocks = calloc((size_t)m->info.n_blocks, sizeof(*m->blocks));
        if (!m->blocks) {
            rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    if ((rc = build_specs(m, &specs)) != 0) {
        rc = impa_err(err, errlen, rc, "%s: out of memory", path);
        goto done;
    }

    /* Check every expected tensor before reading any, then refuse extras. */
    size_t total = 0;
    int *varids = calloc(specs.n, sizeof(int));
    if (!varids) {
        rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < specs.n && rc == 0; i++) {
        rc = check_tensor(ncid, path, &specs.v[i], &varids[i], err, errlen);
        total += spec_floats(&specs.v[i]);
    }
    int nvars = 0;
    if (rc == 0 && (st = nc_inq_nvars(ncid, &nvars)) != NC_NOERR)
        rc = impa_err(err, errlen, IMPA_EIO, "%s: %s", path, nc_strerror(st));
    for (int v = 0; v < nvars && rc == 0; v++) {
        char name[NC_MAX_NAME + 1];
        nc_inq_varname(ncid, v, name);
        size_t i = 0;
        while (i < specs.n && strcmp(specs.v[i].name, name) != 0)
            i++;
        if (i == specs.n)
            rc = impa_err(err, errlen, IMPA_EFORMAT,
                          "%s: unexpected tensor '%s' (not part of the architecture the "
                          "attributes describe)", path, name);
    }
    if (rc == 0) {
        m->blob = malloc(total * sizeof(float));
        if (!m->blob)
            rc = impa_err(err, errlen, IMPA_ENOMEM, "%s: out of memory (%zu floats)", path,
                          total);
    }
    size_t off = 0;
    for (size_t i = 0; i < specs.n && rc == 0; i++) {
        float *dst = m->blob + off;
        st = nc_get_var_float(ncid, varids[i], dst);
        if (st != NC_NOERR) {
            rc = impa_err(err, errlen, IMPA_EIO, "%s: tensor '%s': %s", path, specs.v[i].name,
                          nc_strerror(st));
            break;
        }
        size_t n = spec_floats(&specs.v[i]);
        for (size_t k = 0; k < n; k++) {
            if (!isfinite(dst[k])) {
                rc = impa_err(err, errlen, IMPA_EFORMAT,
                              "%s: tensor '%s' holds a non-finite value at index %zu", path,
                              specs.v[i].name, k);
                break;
            }
        }
        *specs.v[i].dst = dst;
        off += n;
    }
    free(varids);
    if (rc)
        goto done;
    m->blob_floats = total;
    m->n_tensors = specs.n;
    rc = pack_direct(m, err, errlen, path);
    if (rc)
        goto done;
    nc_close(ncid);
    ncid = -1;
    rc = impa_sha256_file(path, m->info.sha256, err, errlen);

done:
    if (ncid >= 0)
        nc_close(ncid);
    free(specs.v);
    if (rc) {
        impa_model_destroy(&m);
        return rc;
    }
    *out = m;
    return 0;
}

void impa_model_destroy(impa_model_t **model)
{
    if (!model || !*model)
        return;
    free((*model)->blob);
    free((*model)->packed);
    free((*model)->blocks);
    free(*model);
    *model = NULL;
}

int impa_model_effective_tile(const impa_model_t *model, int tile)
{
    if (model && model->info.norm_local && model->info.se_window > 0)
        return 0;
    return tile;
}

int impa_model_input_frames(const impa_model_t *model)
{
    if (!model)
        return 0;
    return model->info.t_in + (model->info.advection ? model->info.t_out : 0);
}

const impa_model_info_t *impa_model_info(const impa_model_t *model)
{
    return model ? &model->info : NULL;
}
