#include "testutil.h"

#include <math.h>
#include <dirent.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tu_config_t tu_small_config(void)
{
    tu_config_t c = {
        .n_fields = 4, .t_in = 2, .t_out = 3, .hid_s = 8, .hid_t = 16, .n_blocks = 1,
        .norm_groups = 4, .se_reduction = 4, .mlp_ratio = 2, .n_branches = 2,
        .branch_kernels = {3, 5}, .branch_dilations = {1, 2}, .spatial_mixer = 1,
        .residual = 1, .advection = -1,
    };
    return c;
}

tu_config_t tu_default_config(void)
{
    tu_config_t c = tu_small_config();
    c.t_in = 4;
    c.t_out = 12;
    c.hid_s = 16;
    c.hid_t = 64;
    c.n_blocks = 2;
    c.n_branches = 3;
    const int k[3] = {3, 5, 7}, d[3] = {1, 2, 3};
    for (int b = 0; b < 3; b++) {
        c.branch_kernels[b] = k[b];
        c.branch_dilations[b] = d[b];
    }
    return c;
}

tu_config_t tu_advection_config(int t_in, int t_out, int zero_readout)
{
    tu_config_t c = tu_small_config();
    c.t_in = t_in;
    c.t_out = t_out;
    c.residual = 1;
    c.advection = 1;
    c.zero_readout = zero_readout;
    return c;
}

float tu_rand(uint32_t *s, float lo, float hi)
{
    *s = *s * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*s >> 8) / 16777216.0f;
}

static char tmp_dir[256];

/* Removes the per-process directory and the files the test wrote in it. */
static void remove_tmp_dir(void)
{
    DIR *d = opendir(tmp_dir);
    if (!d)
        return;
    struct dirent *ent;
    char p[600];
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", tmp_dir, ent->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmp_dir);
}

const char *tu_path(const char *name)
{
    static char path[512];
    if (!tmp_dir[0]) {
        snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/impa-engine-test-XXXXXX");
        if (mkdtemp(tmp_dir))
            atexit(remove_tmp_dir);
        else
            snprintf(tmp_dir, sizeof(tmp_dir), "/tmp");
    }
    const char *dir = tmp_dir;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

/* one tensor with nd dims */
static int put_tensor(int ncid, const char *name, int nd, const size_t *shape, uint32_t *seed,
                      float scale)
{
    int dims[4], varid, st;
    size_t n = 1;
    for (int i = 0; i < nd; i++) {
        char dn[64];
        snprintf(dn, sizeof(dn), "d%zu", shape[i]);
        if (nc_inq_dimid(ncid, dn, &dims[i]) != NC_NOERR) {
            if ((st = nc_def_dim(ncid, dn, shape[i], &dims[i])) != NC_NOERR)
                return st;
        }
        n *= shape[i];
    }
    if ((st = nc_def_var(ncid, name, NC_FLOAT, nd, dims, &varid)) != NC_NOERR)
        return st;
    nc_put_att_text(ncid, varid, "long_name", strlen(name), name);
    float *buf = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        buf[i] = tu_rand(seed, -1.0f, 1.0f) * scale;
    st = nc_put_var_float(ncid, varid, buf);
    free(buf);
    return st;
}

static int conv(int ncid, const char *pre, size_t out, size_t inpg, size_t k, uint32_t *seed)
{
    char name[160];
    size_t sh[4] = {out, inpg, k, k};
    float sc = 1.0f / sqrtf((float)(inpg * k * k));
    snprintf(name, sizeof(name), "%s.weight", pre);
    int st = put_tensor(ncid, name, 4, sh, seed, sc);
    if (st)
        return st;
    snprintf(name, sizeof(name), "%s.bias", pre);
    return put_tensor(ncid, name, 1, sh, seed, 0.1f);
}

static int norm(int ncid, const char *pre, size_t c, uint32_t *seed)
{
    char name[160];
    size_t sh[1] = {c};
    int st;
    snprintf(name, sizeof(name), "%s.weight", pre);
    int varid;
    /* weight near 1 */
    if ((st = put_tensor(ncid, name, 1, sh, seed, 0.2f)) != 0)
        return st;
    nc_inq_varid(ncid, name, &varid);
    float *w = malloc(c * sizeof(float));
    nc_get_var_float(ncid, varid, w);
    for (size_t i = 0; i < c; i++)
        w[i] += 1.0f;
    nc_put_var_float(ncid, varid, w);
    free(w);
    snprintf(name, sizeof(name), "%s.bias", pre);
    return put_tensor(ncid, name, 1, sh, seed, 0.1f);
}

int tu_write_weights(const char *path, const tu_config_t *c, uint32_t seed)
{
    int ncid, st;
    if ((st = nc_create(path, NC_CLOBBER | NC_NETCDF4, &ncid)) != NC_NOERR)
        return st;
    const char *fields4[4] = {"reflectivity", "precip_rate", "terrain", "wind850"};
    const char *tr4[4] = {"linear", "log10p1", "linear", "linear"};
    float off4[4] = {0, 0, 0, 0}, sc4[4] = {70, 2, 3000, 20}, mn4[4] = {0, 0, -0.1f, -1},
          mx4[4] = {1, 1, 1, 1};
    char fields[256] = "", tr[256] = "";
    for (int f = 0; f < c->n_fields; f++) {
        strcat(fields, f ? "," : "");
        strcat(fields, fields4[f % 4]);
        strcat(tr, f ? "," : "");
        strcat(tr, tr4[f % 4]);
    }
    nc_put_att_text(ncid, NC_GLOBAL, "format", strlen("impa-nowcast-weights"),
                    "impa-nowcast-weights");
    int one = 1, four = 4, ten = 10;
    nc_put_att_int(ncid, NC_GLOBAL, "format_version", NC_INT, 1, &one);
    nc_put_att_text(ncid, NC_GLOBAL, "model_name", 9, "test-tiny");
    nc_put_att_text(ncid, NC_GLOBAL, "model_version", 1, "1");
    nc_put_att_text(ncid, NC_GLOBAL, "fields", strlen(fields), fields);
    nc_put_att_text(ncid, NC_GLOBAL, "norm_transform", strlen(tr), tr);
    nc_put_att_float(ncid, NC_GLOBAL, "norm_offset", NC_FLOAT, (size_t)c->n_fields, off4);
    nc_put_att_float(ncid, NC_GLOBAL, "norm_scale", NC_FLOAT, (size_t)c->n_fields, sc4);
    nc_put_att_float(ncid, NC_GLOBAL, "norm_min", NC_FLOAT, (size_t)c->n_fields, mn4);
    nc_put_att_float(ncid, NC_GLOBAL, "norm_max", NC_FLOAT, (size_t)c->n_fields, mx4);
    nc_put_att_int(ncid, NC_GLOBAL, "t_in", NC_INT, 1, &c->t_in);
    nc_put_att_int(ncid, NC_GLOBAL, "t_out", NC_INT, 1, &c->t_out);
    nc_put_att_int(ncid, NC_GLOBAL, "step_minutes", NC_INT, 1, &ten);
    nc_put_att_int(ncid, NC_GLOBAL, "hid_s", NC_INT, 1, &c->hid_s);
    nc_put_att_int(ncid, NC_GLOBAL, "hid_t", NC_INT, 1, &c->hid_t);
    nc_put_att_int(ncid, NC_GLOBAL, "n_blocks", NC_INT, 1, &c->n_blocks);
    nc_put_att_int(ncid, NC_GLOBAL, "norm_groups", NC_INT, 1, &c->norm_groups);
    nc_put_att_int(ncid, NC_GLOBAL, "se_reduction", NC_INT, 1, &c->se_reduction);
    nc_put_att_int(ncid, NC_GLOBAL, "mlp_ratio", NC_INT, 1, &c->mlp_ratio);
    nc_put_att_int(ncid, NC_GLOBAL, "branch_kernels", NC_INT, (size_t)c->n_branches,
                   c->branch_kernels);
    nc_put_att_int(ncid, NC_GLOBAL, "branch_dilations", NC_INT, (size_t)c->n_branches,
                   c->branch_dilations);
    nc_put_att_int(ncid, NC_GLOBAL, "spatial_mixer", NC_INT, 1, &c->spatial_mixer);
    nc_put_att_int(ncid, NC_GLOBAL, "residual", NC_INT, 1, &c->residual);
    nc_put_att_int(ncid, NC_GLOBAL, "total_stride", NC_INT, 1, &four);
    if (c->advection >= 0)
        nc_put_att_int(ncid, NC_GLOBAL, "advection", NC_INT, 1, &c->advection);
    if (c->norm_local)
        nc_put_att_int(ncid, NC_GLOBAL, "norm_local", NC_INT, 1, &c->norm_local);
    if (c->se_window)
        nc_put_att_int(ncid, NC_GLOBAL, "se_window", NC_INT, 1, &c->se_window);
    size_t frames = (size_t)c->t_in + (c->advection == 1 ? (size_t)c->t_out : 0);
    float eps = 1e-5f, za = 200.0f, zb = 1.6f;
    nc_put_att_float(ncid, NC_GLOBAL, "gn_eps", NC_FLOAT, 1, &eps);
    nc_put_att_float(ncid, NC_GLOBAL, "zr_a", NC_FLOAT, 1, &za);
    nc_put_att_float(ncid, NC_GLOBAL, "zr_b", NC_FLOAT, 1, &zb);

    size_t C = (size_t)c->n_fields, S = (size_t)c->hid_s, T = (size_t)c->hid_t;
    size_t Tm = T * (size_t)c->mlp_ratio, Tr = T / (size_t)c->se_reduction;
    char p[128];
    st = 0;
    for (int i = 0; i < 3 && !st; i++) {
        snprintf(p, sizeof(p), "enc.%d.conv", i);
        st = conv(ncid, p, S, i ? S : C, 3, &seed);
        snprintf(p, sizeof(p), "enc.%d.norm", i);
        if (!st)
            st = norm(ncid, p, S, &seed);
    }
    if (!st)
        st = conv(ncid, "trans.inp", T, frames * S, 1, &seed);
    for (int b = 0; b < c->n_blocks && !st; b++) {
#define P(s) (snprintf(p, sizeof(p), "trans.blocks.%d.%s", b, s), p)
        st = norm(ncid, P("norm1"), T, &seed);
        if (!st)
            st = conv(ncid, P("attn.v"), T, T, 1, &seed);
        for (int j = 0; j < c->n_branches && !st; j++) {
            char q[64];
            snprintf(q, sizeof(q), "attn.branches.%d", j);
            st = conv(ncid, P(q), T, 1, (size_t)c->branch_kernels[j], &seed);
        }
        if (!st)
            st = conv(ncid, P("attn.fuse"), T, T, 1, &seed);
        if (!st)
            st = conv(ncid, P("attn.proj"), T, T, 1, &seed);
        if (!st)
            st = norm(ncid, P("norm2"), T, &seed);
        if (!st)
            st = conv(ncid, P("se.fc1"), Tr, T, 1, &seed);
        if (!st)
            st = conv(ncid, P("se.fc2"), T, Tr, 1, &seed);
        if (!st)
            st = norm(ncid, P("norm3"), T, &seed);
        if (!st)
            st = conv(ncid, P("mlp.fc1"), Tm, T, 1, &seed);
        if (!st)
            st = conv(ncid, P("mlp.dw"), Tm, 1, 3, &seed);
        if (!st)
            st = conv(ncid, P("mlp.fc2"), T, Tm, 1, &seed);
#undef P
    }
    if (!st)
        st = conv(ncid, "trans.out", (size_t)c->t_out * S, T, 1, &seed);
    for (int i = 0; i < 3 && !st; i++) {
        snprintf(p, sizeof(p), "dec.%d.conv", i);
        st = conv(ncid, p, i < 2 ? 4 * S : S, S, 3, &seed);
        snprintf(p, sizeof(p), "dec.%d.norm", i);
        if (!st)
            st = norm(ncid, p, S, &seed);
    }
    if (!st)
        st = conv(ncid, "readout", 1, S, 1, &seed);
    if (!st && c->zero_readout) {
        int vw, vb;
        float zeros[4096] = {0};
        if (nc_inq_varid(ncid, "readout.weight", &vw) == NC_NOERR &&
            nc_inq_varid(ncid, "readout.bias", &vb) == NC_NOERR && S <= 4096) {
            st = nc_put_var_float(ncid, vw, zeros);
            if (!st)
                st = nc_put_var_float(ncid, vb, zeros);
        }
    }
    int st2 = nc_close(ncid);
    return st ? st : st2;
}
