/* OASIS CAP 1.2 messages for severe-echo tracks (mapping: docs/protocol.md). */
#include "publish/publish-impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "impa/error.h"
#include "impa/timeutil.h"
#include "publish/outline.h"

/* The sooner a cell is forecast, the sooner people must act and the surer the
 * forecast (skill drops quickly with lead time in nowcasting). */
const char *impa_cap_urgency(int first_lead_minutes)
{
    if (first_lead_minutes <= 30)
        return "Immediate";
    if (first_lead_minutes <= 60)
        return "Expected";
    return "Future";
}

const char *impa_cap_certainty(int first_lead_minutes)
{
    if (first_lead_minutes <= 30)
        return "Likely";
    if (first_lead_minutes <= 90)
        return "Possible";
    return "Unlikely";
}

/* Reflectivity bands: 45-50 dBZ heavy rain, 50-55 very heavy/small hail,
 * 55-60 large hail likely, >= 60 giant hail / extreme rain rates. */
const char *impa_cap_severity(double max_dbz)
{
    if (max_dbz >= 60)
        return "Extreme";
    if (max_dbz >= 55)
        return "Severe";
    if (max_dbz >= 50)
        return "Moderate";
    return "Minor";
}

char *impa_cap_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return buf;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int overflow;
} sbuf_t;

static void sb_printf(sbuf_t *sb, const char *fmt, ...) IMPA_PRINTF(2, 3);
static void sb_printf(sbuf_t *sb, const char *fmt, ...)
{
    if (sb->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sb->cap - sb->len)
        sb->overflow = 1;
    else
        sb->len += (size_t)n;
}

static void sb_xml(sbuf_t *sb, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': sb_printf(sb, "&lt;"); break;
        case '>': sb_printf(sb, "&gt;"); break;
        case '&': sb_printf(sb, "&amp;"); break;
        case '"': sb_printf(sb, "&quot;"); break;
        case '\'': sb_printf(sb, "&apos;"); break;
        default: sb_printf(sb, "%c", *s);
        }
    }
}

/* CAP identifiers and senders must not contain spaces, commas, '<' or '&'. */
static void safe_token(char *dst, size_t len, const char *src)
{
    size_t o = 0;
    for (; src && *src && o + 1 < len; src++)
        dst[o++] = (*src == ' ' || *src == ',' || *src == '<' || *src == '&' || *src == '>' ||
                    *src == '"' || *src == '\'' || *src == '/')
                       ? '_'
                       : *src;
    dst[o] = '\0';
}

int impa_cap_format(const impa_cap_event_t *ev, const char *sender, const char *domain,
                    const char *run_id, int64_t sent, char *ident, char *sent_out, char *buf,
                    size_t buflen)
{
    char sd[128], sn[128], tb[32], onset[32], expires[32];
    safe_token(sd, sizeof sd, domain);
    safe_token(sn, sizeof sn, sender && *sender ? sender : "impa-nowcast");
    snprintf(ident, 192, "impa-%s-%s-cell%lld-%s", sd, run_id, (long long)ev->cell_id,
             impa_time_compact(sent, tb, sizeof tb));
    impa_cap_time(sent, sent_out, 32);
    impa_cap_time(ev->onset, onset, sizeof onset);
    impa_cap_time(ev->expires, expires, sizeof expires);
    const char *msg_type = ev->event == IMPA_ALERT_ENDED ? "Cancel"
                           : (ev->event == IMPA_ALERT_UPDATED && ev->references) ? "Update"
                                                                                 : "Alert";
    sbuf_t sb = {buf, 0, buflen, 0};
    sb_printf(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n");
    sb_printf(&sb, "  <identifier>%s</identifier>\n  <sender>%s</sender>\n", ident, sn);
    sb_printf(&sb, "  <sent>%s</sent>\n  <status>Actual</status>\n  <msgType>%s</msgType>\n",
              sent_out, msg_type);
    sb_printf(&sb, "  <source>impa-nowcast</source>\n  <scope>Public</scope>\n");
    if (ev->references && strcmp(msg_type, "Alert") != 0)
        sb_printf(&sb, "  <references>%s</references>\n", ev->references);
    sb_printf(&sb, "  <info>\n    <language>en</language>\n    <category>Met</category>\n"
                   "    <event>Severe convective echo</event>\n");
    sb_printf(&sb, "    <responseType>%s</responseType>\n",
              ev->event == IMPA_ALERT_ENDED ? "AllClear" : "Monitor");
    sb_printf(&sb, "    <urgency>%s</urgency>\n    <severity>%s</severity>\n"
                   "    <certainty>%s</certainty>\n",
              ev->event == IMPA_ALERT_ENDED ? "Past" : impa_cap_urgency(ev->first_lead_minutes),
              impa_cap_severity(ev->max_dbz), impa_cap_certainty(ev->first_lead_minutes));
    sb_printf(&sb, "    <onset>%s</onset>\n    <expires>%s</expires>\n", onset, expires);
    sb_printf(&sb, "    <senderName>impa-nowcast radar nowcast</senderName>\n");
    sb_printf(&sb, "    <headline>");
    if (ev->event == IMPA_ALERT_ENDED)
        sb_printf(&sb, "Severe convective echo cell %lld no longer forecast", (long long)ev->cell_id);
    else
        sb_printf(&sb, "Severe convective echo (max %.0f dBZ) forecast in %d min",
                  ev->max_dbz, ev->first_lead_minutes);
    sb_printf(&sb, "</headline>\n");
    sb_printf(&sb, "    <description>Radar nowcast cell %lld: maximum reflectivity %.1f dBZ, "
                   "area %.1f km2, first forecast %d minutes after issue.</description>\n",
              (long long)ev->cell_id, ev->max_dbz, ev->area_km2, ev->first_lead_minutes);
    sb_printf(&sb, "    <parameter>\n      <valueName>max_dbz</valueName>\n"
                   "      <value>%.1f</value>\n    </parameter>\n", ev->max_dbz);
    sb_printf(&sb, "    <parameter>\n      <valueName>cell_id</valueName>\n"
                   "      <value>%lld</value>\n    </parameter>\n", (long long)ev->cell_id);
    sb_printf(&sb, "    <area>\n      <areaDesc>");
    sb_xml(&sb, domain);
    sb_printf(&sb, ": forecast outline of radar cell %lld</areaDesc>\n", (long long)ev->cell_id);
    const impa_alert_cell_t *c = ev->shape;
    if (c && c->has_latlon && ev->grid) {
        /* one <polygon> per part of the GEOS outline (outline.h), its exterior ring
         * as "lat,lon" pairs: CAP polygons have no holes, so a hole is covered */
        impa_outline_ctx_t o;
        if (impa_outline_init(&o) == 0) {
            GEOSGeometry *g = impa_outline_build(&o, ev->grid, 1, c, ev->pixels);
            int np = g ? GEOSGetNumGeometries_r(o.h, g) : 0;
            for (int k = 0; k < np; k++) {
                const GEOSGeometry *pg = GEOSGetGeometryN_r(o.h, g, k);
                const GEOSCoordSequence *cs =
                    GEOSGeom_getCoordSeq_r(o.h, GEOSGetExteriorRing_r(o.h, pg));
                unsigned n = 0;
                GEOSCoordSeq_getSize_r(o.h, cs, &n);
                sb_printf(&sb, "      <polygon>");
                for (unsigned i = 0; i < n; i++) {
                    double x, y;
                    GEOSCoordSeq_getXY_r(o.h, cs, i, &x, &y);
                    sb_printf(&sb, "%s%.6f,%.6f", i ? " " : "", y, x);
                }
                sb_printf(&sb, "</polygon>\n");
            }
            if (g)
                GEOSGeom_destroy_r(o.h, g);
            impa_outline_deinit(&o);
        }
    }
    sb_printf(&sb, "    </area>\n  </info>\n</alert>\n");
    if (sb.overflow)
        return IMPA_ENOSPC;
    return (int)sb.len;
}
