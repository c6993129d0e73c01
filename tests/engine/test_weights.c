/* The loader accepts a valid file (values read back) and refuses each kind of
 * wrong file with the right message; the engine refuses grids that are not
 * multiples of total_stride. Bad files are a valid generated file modified
 * with nc_* calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impa/engine.h"
#include "impa/sha256.h"
#include "testutil.h"

static char good[512];

static int setup(void **state)
{
    (void)state;
    tu_config_t c = tu_small_config();
    snprintf(good, sizeof(good), "%s", tu_path("good.nc"));
    return tu_write_weights(good, &c, 42u) == 0 ? 0 : -1;
}

static void copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* Copy of the good file opened for writing in define mode; caller closes. */
static int open_copy(const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s", tu_path(name));
    copy_file(good, path);
    int ncid;
    assert_int_equal(nc_open(path, NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_redef(ncid), NC_NOERR);
    return ncid;
}

/* Loads path, expects failure with code and every needle in the message. */
static void expect_refused(const char *path, int code, const char *n1, const char *n2)
{
    char err[512] = "";
    impa_model_t *m = (impa_model_t *)0x1;
    int rc = impa_model_load(path, &m, err, sizeof(err));
    if (rc != code || !strstr(err, n1) || (n2 && !strstr(err, n2)))
        fail_msg("expected %d with '%s' '%s', got %d: %s", code, n1, n2 ? n2 : "", rc, err);
    assert_null(m);
    assert_non_null(strstr(err, path)); /* the file is named */
}

static void test_good_file(void **state)
{
    (void)state;
    char err[512] = "";
    impa_model_t *m = NULL;
    int rc = impa_model_load(good, &m, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    const impa_model_info_t *I = impa_model_info(m);
    assert_int_equal(I->n_fields, 4);
    assert_string_equal(I->field_names[0], "reflectivity");
    assert_string_equal(I->field_names[3], "wind850");
    assert_int_equal(I->norm_transform[1], IMPA_NORM_LOG10P1);
    assert_float_equal(I->norm_scale[2], 3000.0f, 0);
    assert_float_equal(I->norm_min[3], -1.0f, 0);
    assert_int_equal(I->t_in, 2);
    assert_int_equal(I->t_out, 3);
    assert_int_equal(I->hid_s, 8);
    assert_int_equal(I->hid_t, 16);
    assert_int_equal(I->n_branches, 2);
    assert_int_equal(I->branch_kernels[1], 5);
    assert_int_equal(I->branch_dilations[1], 2);
    assert_int_equal(I->total_stride, 4);
    assert_float_equal(I->gn_eps, 1e-5f, 1e-12);
    assert_float_equal(I->zr_b, 1.6f, 1e-7);
    assert_string_equal(I->model_name, "test-tiny");
    /* no 'advection' attribute (files from before the variant): the plain network */
    assert_int_equal(I->advection, 0);
    /* nor 'norm_local' / 'se_window': GroupNorm over the grid, SE from the grid mean */
    assert_int_equal(I->norm_local, 0);
    assert_int_equal(I->se_window, 0);
    assert_int_equal(impa_model_input_frames(m), 2);
    char hex[65];
    assert_int_equal(impa_sha256_file(good, hex, NULL, 0), 0);
    assert_string_equal(I->sha256, hex);
    impa_model_destroy(&m);
    assert_null(m);
    impa_model_destroy(&m); /* NULL is fine */
}

static void test_missing_tensor(void **state)
{
    (void)state;
    char path[512];
    int ncid = open_copy("missing.nc", path, sizeof(path));
    int varid;
    assert_int_equal(nc_inq_varid(ncid, "trans.blocks.0.se.fc2.bias", &varid), NC_NOERR);
    assert_int_equal(nc_rename_var(ncid, varid, "renamed"), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_ENOTFOUND, "tensor 'trans.blocks.0.se.fc2.bias' is missing",
                   "[16]");
}

static void test_wrong_shape(void **state)
{
    (void)state;
    char path[512];
    int ncid = open_copy("shape.nc", path, sizeof(path));
    int varid, dims[4], d8, d4, d3;
    assert_int_equal(nc_inq_varid(ncid, "enc.1.conv.weight", &varid), NC_NOERR);
    assert_int_equal(nc_rename_var(ncid, varid, "old"), NC_NOERR);
    nc_inq_dimid(ncid, "d8", &d8);
    nc_inq_dimid(ncid, "d4", &d4);
    nc_inq_dimid(ncid, "d3", &d3);
    dims[0] = d8;
    dims[1] = d4;
    dims[2] = dims[3] = d3;
    assert_int_equal(nc_def_var(ncid, "enc.1.conv.weight", NC_FLOAT, 4, dims, &varid),
                     NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_ESHAPE,
                   "tensor 'enc.1.conv.weight' has shape [8,4,3,3], expected [8,8,3,3]", NULL);
}

static void test_attribute_changes_shapes(void **state)
{
    (void)state;
    /* hid_s = 12 is in range, but then enc.0.conv.weight should be [12,4,3,3]. */
    char path[512];
    int ncid = open_copy("hids.nc", path, sizeof(path));
    int v = 12;
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "hid_s", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_ESHAPE,
                   "tensor 'enc.0.conv.weight' has shape [8,4,3,3], expected [12,4,3,3]", NULL);
}

static void test_extra_tensor(void **state)
{
    (void)state;
    char path[512];
    int ncid = open_copy("extra.nc", path, sizeof(path));
    int varid, d;
    nc_inq_dimid(ncid, "d8", &d);
    assert_int_equal(nc_def_var(ncid, "enc.3.conv.bias", NC_FLOAT, 1, &d, &varid), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "unexpected tensor 'enc.3.conv.bias'", NULL);
}

static void test_bad_values(void **state)
{
    (void)state;
    char path[512];
    int ncid = open_copy("nan.nc", path, sizeof(path));
    int varid;
    assert_int_equal(nc_enddef(ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "dec.2.norm.bias", &varid), NC_NOERR);
    size_t idx = 3;
    float nan = NAN;
    assert_int_equal(nc_put_var1_float(ncid, varid, &idx, &nan), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "tensor 'dec.2.norm.bias' holds a non-finite value",
                   "index 3");

    /* float64 tensor with the right shape */
    ncid = open_copy("double.nc", path, sizeof(path));
    int d;
    assert_int_equal(nc_inq_varid(ncid, "readout.bias", &varid), NC_NOERR);
    assert_int_equal(nc_rename_var(ncid, varid, "old"), NC_NOERR);
    nc_inq_dimid(ncid, "d1", &d);
    assert_int_equal(nc_def_var(ncid, "readout.bias", NC_DOUBLE, 1, &d, &varid), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "tensor 'readout.bias' is not float32", NULL);

    /* a netCDF-4 string attribute is read like a text one */
    ncid = open_copy("string.nc", path, sizeof(path));
    const char *name = "string-model";
    assert_int_equal(nc_del_att(ncid, NC_GLOBAL, "model_name"), NC_NOERR);
    assert_int_equal(nc_put_att_string(ncid, NC_GLOBAL, "model_name", 1, &name), NC_NOERR);
    nc_close(ncid);
    char err[512];
    impa_model_t *m = NULL;
    assert_int_equal(impa_model_load(path, &m, err, sizeof(err)), 0);
    assert_string_equal(impa_model_info(m)->model_name, "string-model");
    impa_model_destroy(&m);
}

static void test_attributes(void **state)
{
    (void)state;
    char path[512];
    int ncid, v;

    ncid = open_copy("noattr.nc", path, sizeof(path));
    assert_int_equal(nc_del_att(ncid, NC_GLOBAL, "n_blocks"), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "attribute 'n_blocks' is missing", NULL);

    ncid = open_copy("range.nc", path, sizeof(path));
    v = 0;
    nc_put_att_int(ncid, NC_GLOBAL, "t_in", NC_INT, 1, &v);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "attribute 't_in' = 0 out of range [1, 32]", NULL);

    ncid = open_copy("groups.nc", path, sizeof(path));
    v = 3;
    nc_put_att_int(ncid, NC_GLOBAL, "norm_groups", NC_INT, 1, &v);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "'norm_groups' = 3 must divide hid_s 8", NULL);

    ncid = open_copy("mixer.nc", path, sizeof(path));
    v = 2;
    nc_put_att_int(ncid, NC_GLOBAL, "spatial_mixer", NC_INT, 1, &v);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "'spatial_mixer' = 2 out of range [0, 1]", NULL);

    ncid = open_copy("scale.nc", path, sizeof(path));
    float sc[4] = {70, 0, 3000, 20};
    nc_put_att_float(ncid, NC_GLOBAL, "norm_scale", NC_FLOAT, 4, sc);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "attribute 'norm_scale' = 0 out of range", NULL);

    ncid = open_copy("nscale.nc", path, sizeof(path));
    nc_put_att_float(ncid, NC_GLOBAL, "norm_scale", NC_FLOAT, 3, sc);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "'norm_scale' has 3 values, expected 4", NULL);

    ncid = open_copy("transform.nc", path, sizeof(path));
    const char *tr = "linear,log1p,linear,linear";
    nc_put_att_text(ncid, NC_GLOBAL, "norm_transform", strlen(tr), tr);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "unknown transform 'log1p'", "precip_rate");

    ncid = open_copy("branches.nc", path, sizeof(path));
    int k[3] = {3, 5, 7};
    nc_put_att_int(ncid, NC_GLOBAL, "branch_kernels", NC_INT, 3, k);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "'branch_dilations' has 2 values, expected 3", NULL);
}

static void test_format(void **state)
{
    (void)state;
    char path[512];
    int ncid = open_copy("version.nc", path, sizeof(path));
    int v = 2;
    nc_put_att_int(ncid, NC_GLOBAL, "format_version", NC_INT, 1, &v);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "format_version 2, expected 1", NULL);

    ncid = open_copy("format.nc", path, sizeof(path));
    nc_put_att_text(ncid, NC_GLOBAL, "format", 8, "pytorch!");
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "format 'pytorch!', expected 'impa-nowcast-weights'",
                   NULL);

    ncid = open_copy("noformat.nc", path, sizeof(path));
    nc_del_att(ncid, NC_GLOBAL, "format_version");
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "attribute 'format_version' is missing", NULL);

    /* not NetCDF at all */
    snprintf(path, sizeof(path), "%s", tu_path("text.nc"));
    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    expect_refused(path, IMPA_EIO, "cannot open", NULL);
    expect_refused(tu_path("does-not-exist.nc"), IMPA_EIO, "cannot open", NULL);
}

/* The optional 'advection' attribute: 0 and 1 accepted (1 widens trans.inp to
 * (t_in + t_out) * hid_s), other values refused with a message naming it, and a
 * plain file relabelled advection = 1 refused on the trans.inp shape. */
static void test_advection_attribute(void **state)
{
    (void)state;
    char err[512] = "";
    impa_model_t *m = NULL;
    tu_config_t c = tu_small_config();
    c.advection = 1;
    const char *p = tu_path("advection.nc");
    char adv[512];
    snprintf(adv, sizeof adv, "%s", p);
    assert_int_equal(tu_write_weights(adv, &c, 43u), 0);
    if (impa_model_load(adv, &m, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(impa_model_info(m)->advection, 1);
    assert_int_equal(impa_model_input_frames(m), 2 + 3);
    impa_engine_t *e = NULL;
    assert_int_equal(impa_engine_create(m, 16, 16, 1, &e, err, sizeof(err)), 0);
    assert_int_equal(impa_engine_input_frames(e), 5);
    impa_engine_destroy(&e);
    impa_model_destroy(&m);

    /* explicit advection = 0 is the plain network */
    char path[512];
    int ncid = open_copy("adv0.nc", path, sizeof(path));
    int v = 0;
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "advection", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(impa_model_load(path, &m, err, sizeof(err)), 0);
    assert_int_equal(impa_model_info(m)->advection, 0);
    assert_int_equal(impa_model_input_frames(m), 2);
    impa_model_destroy(&m);

    ncid = open_copy("adv2.nc", path, sizeof(path));
    v = 2;
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "advection", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "attribute 'advection' = 2 out of range [0, 1]", NULL);

    ncid = open_copy("advtext.nc", path, sizeof(path));
    assert_int_equal(nc_put_att_text(ncid, NC_GLOBAL, "advection", 3, "yes"), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "attribute 'advection' must be an integer", NULL);

    ncid = open_copy("adv1plain.nc", path, sizeof(path));
    v = 1;
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "advection", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_ESHAPE,
                   "tensor 'trans.inp.weight' has shape [16,16,1,1], expected [16,40,1,1]",
                   NULL);
}

/* The FLOP count of an advection model is the plain count plus t_out more
 * encoder frames and the wider trans.inp (impa.model.count_flops counts the
 * same; the Python test compares the two through impa-bench). */
static void test_advection_flops(void **state)
{
    (void)state;
    char err[512];
    impa_model_t *m0 = NULL, *m1 = NULL;
    tu_config_t c = tu_small_config();
    assert_int_equal(impa_model_load(good, &m0, err, sizeof(err)), 0);
    c.advection = 1;
    const char *p = tu_path("advflops.nc");
    assert_int_equal(tu_write_weights(p, &c, 44u), 0);
    assert_int_equal(impa_model_load(p, &m1, err, sizeof(err)), 0);
    impa_engine_t *e0 = NULL, *e1 = NULL;
    int H = 32, W = 48;
    assert_int_equal(impa_engine_create(m0, H, W, 1, &e0, err, sizeof(err)), 0);
    assert_int_equal(impa_engine_create(m1, H, W, 1, &e1, err, sizeof(err)), 0);
    double C = 4, S = 8, T = 16, HW = H * W, hw2 = HW / 4, hw = HW / 16, Tout = 3;
    double enc = (2 * S * C * 9 * HW + 2 * S * HW) + (2 * S * S * 9 * hw2 + 2 * S * hw2) +
                 (2 * S * S * 9 * hw + 2 * S * hw);
    double extra = Tout * enc + 2 * T * Tout * S * hw;
    assert_float_equal(impa_engine_flops(e1) - impa_engine_flops(e0), extra, 1e-3);
    assert_true(impa_engine_workspace_bytes(e1) > impa_engine_workspace_bytes(e0));
    impa_engine_destroy(&e0);
    impa_engine_destroy(&e1);
    impa_model_destroy(&m0);
    impa_model_destroy(&m1);
}

/* impa_engine_flops equals impa.model.count_flops (the reference) for a plain,
 * an advection and a size-independent (se_window: per-pixel SE convs) golden
 * model; skipped when the reference cannot run. */
static void test_flops_match_python(void **state)
{
    (void)state;
    const char *root = getenv("IMPA_SOURCE_ROOT"), *py = getenv("IMPA_PYTHON");
    if (!root || !py) {
        printf("IMPA_SOURCE_ROOT/IMPA_PYTHON not set: not checked\n");
        skip();
    }
    for (const char *c = "ade"; *c; c++) {
        char w[1024], cmd[4096], err[512];
        snprintf(w, sizeof w, "%s/tests/data/golden_%c_weights.nc", root, *c);
        snprintf(cmd, sizeof cmd,
                 "cd '%s/train' && '%s' -c \"from impa import weights; "
                 "from impa.model import count_flops; _, c = weights.load('%s'); "
                 "print(repr(count_flops(c, 40, 56)['total']))\" 2>/dev/null", root, py, w);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        double ref = -1;
        int got = fscanf(p, "%lf", &ref);
        if (pclose(p) != 0 || got != 1) {
            printf("reference count_flops not runnable (torch/netCDF4 missing?): not checked\n");
            skip();
        }
        impa_model_t *m = NULL;
        impa_engine_t *e = NULL;
        assert_int_equal(impa_model_load(w, &m, err, sizeof err), 0);
        assert_int_equal(impa_engine_create(m, 40, 56, 1, &e, err, sizeof err), 0);
        printf("golden %c (advection %d, se_window %d): C %.0f FLOPs, Python %.0f\n", *c,
               impa_model_info(m)->advection, impa_model_info(m)->se_window,
               impa_engine_flops(e), ref);
        assert_float_equal(impa_engine_flops(e), ref, ref * 1e-12);
        impa_engine_destroy(&e);
        impa_model_destroy(&m);
    }
}

/* The optional 'norm_local' and 'se_window' attributes (size-independent
 * variant): accepted values read back with the same tensors (the variant adds
 * none), refused values named in the message; the per-pixel SE buffers make
 * the workspace larger and the SE 1x1 convs count on every latent pixel. */
static void test_local_attributes(void **state)
{
    (void)state;
    char err[512] = "", path[512];
    impa_model_t *m = NULL;
    tu_config_t c = tu_small_config();
    c.norm_local = 1;
    c.se_window = 11;
    char loc[512];
    snprintf(loc, sizeof loc, "%s", tu_path("local.nc"));
    assert_int_equal(tu_write_weights(loc, &c, 42u), 0);
    if (impa_model_load(loc, &m, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(impa_model_info(m)->norm_local, 1);
    assert_int_equal(impa_model_info(m)->se_window, 11);
    impa_model_t *g = NULL;
    assert_int_equal(impa_model_load(good, &g, err, sizeof(err)), 0);
    /* windows only for the size-dependent model */
    assert_int_equal(impa_model_effective_tile(m, 80), 0);
    assert_int_equal(impa_model_effective_tile(m, 0), 0);
    assert_int_equal(impa_model_effective_tile(g, 80), 80);
    assert_int_equal(impa_model_effective_tile(g, 0), 0);
    assert_int_equal(impa_model_effective_tile(NULL, 80), 80);
    impa_engine_t *el = NULL, *eg = NULL;
    int H = 32, W = 48;
    assert_int_equal(impa_engine_create(m, H, W, 1, &el, err, sizeof(err)), 0);
    assert_int_equal(impa_engine_create(g, H, W, 1, &eg, err, sizeof(err)), 0);
    double T = 16, Tr = 4, hw = H * W / 16.0;
    assert_float_equal(impa_engine_flops(el) - impa_engine_flops(eg),
                       (2 * T * Tr + 2 * Tr * T) * (hw - 1), 1e-3);
    assert_true(impa_engine_workspace_bytes(el) >= impa_engine_workspace_bytes(eg));
    impa_engine_destroy(&el);
    impa_engine_destroy(&eg);
    impa_model_destroy(&g);
    impa_model_destroy(&m);

    /* explicit zeros are the plain network */
    int ncid = open_copy("local0.nc", path, sizeof(path));
    int v = 0;
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "norm_local", NC_INT, 1, &v), NC_NOERR);
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "se_window", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(impa_model_load(path, &m, err, sizeof(err)), 0);
    assert_int_equal(impa_model_info(m)->norm_local, 0);
    assert_int_equal(impa_model_info(m)->se_window, 0);
    impa_model_destroy(&m);

    /* norm_local without a local SE window still reads the grid mean: sized */
    ncid = open_copy("local-only.nc", path, sizeof(path));
    v = 1;
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "norm_local", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(impa_model_load(path, &m, err, sizeof(err)), 0);
    assert_int_equal(impa_model_effective_tile(m, 80), 80);
    impa_model_destroy(&m);

    /* se_window 1 is odd and valid (the gate of each pixel from itself) */
    ncid = open_copy("se1.nc", path, sizeof(path));
    v = 1;
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "se_window", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(impa_model_load(path, &m, err, sizeof(err)), 0);
    assert_int_equal(impa_model_info(m)->se_window, 1);
    impa_model_destroy(&m);

    static const struct {
        const char *att;
        int value;
        const char *msg;
    } bad[] = {
        {"norm_local", 2, "attribute 'norm_local' = 2 out of range [0, 1]"},
        {"norm_local", -1, "attribute 'norm_local' = -1 out of range [0, 1]"},
        {"se_window", 4, "attribute 'se_window' = 4 must be 0 (grid mean) or odd"},
        {"se_window", -1, "attribute 'se_window' = -1 out of range [0, 255]"},
        {"se_window", 257, "attribute 'se_window' = 257 out of range [0, 255]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "bad_%s_%d.nc", bad[i].att, bad[i].value);
        ncid = open_copy(name, path, sizeof(path));
        v = bad[i].value;
        assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, bad[i].att, NC_INT, 1, &v), NC_NOERR);
        nc_close(ncid);
        expect_refused(path, IMPA_EFORMAT, bad[i].msg, NULL);
    }
    ncid = open_copy("setext.nc", path, sizeof(path));
    assert_int_equal(nc_put_att_text(ncid, NC_GLOBAL, "se_window", 2, "11"), NC_NOERR);
    nc_close(ncid);
    expect_refused(path, IMPA_EFORMAT, "attribute 'se_window' must be an integer", NULL);
}

static void test_grid_refused(void **state)
{
    (void)state;
    char err[512];
    impa_model_t *m = NULL;
    assert_int_equal(impa_model_load(good, &m, err, sizeof(err)), 0);
    impa_engine_t *e = (impa_engine_t *)0x1;
    int rc = impa_engine_create(m, 250, 256, 1, &e, err, sizeof(err));
    assert_int_equal(rc, IMPA_ESHAPE);
    assert_null(e);
    assert_non_null(strstr(err, "total_stride 4"));
    assert_non_null(strstr(err, "248x256 or 252x256"));
    rc = impa_engine_create(m, 64, 66, 1, &e, err, sizeof(err));
    assert_int_equal(rc, IMPA_ESHAPE);
    assert_non_null(strstr(err, "64x64 or 64x68"));
    rc = impa_engine_create(m, 2, 8, 1, &e, err, sizeof(err));
    assert_int_equal(rc, IMPA_ESHAPE);
    assert_non_null(strstr(err, "4x8"));
    rc = impa_engine_create(m, 64, 68, 1, &e, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_true(impa_engine_workspace_bytes(e) > 0);
    assert_true(impa_engine_flops(e) > 0);
    impa_engine_destroy(&e);
    assert_null(e);
    impa_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),      cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),    cmocka_unit_test(test_attribute_changes_shapes),
        cmocka_unit_test(test_extra_tensor),   cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_format),         cmocka_unit_test(test_grid_refused),
        cmocka_unit_test(test_bad_values),     cmocka_unit_test(test_advection_attribute),
        cmocka_unit_test(test_advection_flops),  cmocka_unit_test(test_flops_match_python),
        cmocka_unit_test(test_local_attributes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
