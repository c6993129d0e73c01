/* OASIS CAP 1.2 messages for severe-echo tracks (mapping: docs/protocol.md),
 * written with libxml2's xmlTextWriter (escaping, namespaces, well-formedness). */
#include "publish/publish-impl.h"

#include <libxml/xmlwriter.h>
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

const char *impa_cap_certainty_prob(double p)
{
    if (p >= 0.5)
        return "Likely";
    if (p >= 0.1)
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

/* Element writers; every libxml2 call's result is checked through `ok`. */
#define W(call) do { if ((call) < 0) ok = 0; } while (0)

static int polygons(xmlTextWriterPtr w, const impa_cap_event_t *ev)
{
    const impa_alert_cell_t *c = ev->shape;
    if (!c || !c->has_latlon || !ev->grid)
        return 1;
    /* one <polygon> per part of the GEOS outline (outline.h), its exterior ring as
     * "lat,lon" pairs: CAP polygons have no holes, so a hole is covered */
    impa_outline_ctx_t o;
    if (impa_outline_init(&o) != 0)
        return 0;
    int ok = 1;
    GEOSGeometry *g = impa_outline_build(&o, ev->grid, 1, c, ev->pixels);
    int np = g ? GEOSGetNumGeometries_r(o.h, g) : 0;
    for (int k = 0; k < np && ok; k++) {
        const GEOSGeometry *pg = GEOSGetGeometryN_r(o.h, g, k);
        const GEOSCoordSequence *cs = GEOSGeom_getCoordSeq_r(o.h, GEOSGetExteriorRing_r(o.h, pg));
        unsigned n = 0;
        GEOSCoordSeq_getSize_r(o.h, cs, &n);
        W(xmlTextWriterStartElement(w, BAD_CAST "polygon"));
        for (unsigned i = 0; i < n && ok; i++) {
            double x, y;
            GEOSCoordSeq_getXY_r(o.h, cs, i, &x, &y);
            W(xmlTextWriterWriteFormatString(w, "%s%.6f,%.6f", i ? " " : "", y, x));
        }
        W(xmlTextWriterEndElement(w));
    }
    if (g)
        GEOSGeom_destroy_r(o.h, g);
    impa_outline_deinit(&o);
    return ok;
}

/* A watch region's polygon as one CAP <polygon> ("lat,lon" pairs, closed). */
static int region_polygon(xmlTextWriterPtr w, const impa_watch_region_t *r)
{
    int ok = 1, n = r->n_vertices;
    int closed = r->lat[0] == r->lat[n - 1] && r->lon[0] == r->lon[n - 1];
    W(xmlTextWriterStartElement(w, BAD_CAST "polygon"));
    for (int i = 0; i <= (closed ? n - 1 : n) && ok; i++)
        W(xmlTextWriterWriteFormatString(w, "%s%.6f,%.6f", i ? " " : "", r->lat[i % n],
                                         r->lon[i % n]));
    W(xmlTextWriterEndElement(w));
    return ok;
}

static void parameter(xmlTextWriterPtr w, int *okp, const char *name, const char *value)
{
    int ok = 1;
    W(xmlTextWriterStartElement(w, BAD_CAST "parameter"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "valueName", BAD_CAST name));
    W(xmlTextWriterWriteElement(w, BAD_CAST "value", BAD_CAST value));
    W(xmlTextWriterEndElement(w));
    if (!ok)
        *okp = 0;
}

int impa_cap_format(const impa_cap_event_t *ev, const char *sender, const char *domain,
                    const char *run_id, int64_t issue, int64_t sent, char *ident,
                    char *sent_out, char *buf, size_t buflen)
{
    char sd[128], sn[128], tb[32], onset[32], expires[32], issue_s[32], v[256];
    safe_token(sd, sizeof sd, domain);
    safe_token(sn, sizeof sn, sender && *sender ? sender : "impa-nowcast");
    const impa_watch_region_t *reg = ev->region;
    if (reg)
        snprintf(ident, 192, "impa-%s-%s-region%d-%s", sd, run_id, ev->region_index + 1,
                 impa_time_compact(issue, tb, sizeof tb));
    else
        snprintf(ident, 192, "impa-%s-%s-cell%lld-%s", sd, run_id, (long long)ev->cell_id,
                 impa_time_compact(issue, tb, sizeof tb));
    impa_cap_time(sent, sent_out, 32);
    impa_cap_time(issue, issue_s, sizeof issue_s);
    impa_cap_time(ev->onset, onset, sizeof onset);
    impa_cap_time(ev->expires, expires, sizeof expires);
    int cancel = ev->event == IMPA_ALERT_ENDED;
    const char *msg_type = cancel ? "Cancel"
                           : (ev->event == IMPA_ALERT_UPDATED && ev->references) ? "Update"
                                                                                 : "Alert";
    xmlBufferPtr xb = xmlBufferCreate();
    if (!xb)
        return IMPA_ENOMEM;
    xmlTextWriterPtr w = xmlNewTextWriterMemory(xb, 0);
    if (!w) {
        xmlBufferFree(xb);
        return IMPA_ENOMEM;
    }
    int ok = 1;
    W(xmlTextWriterSetIndent(w, 1));
    W(xmlTextWriterSetIndentString(w, BAD_CAST "  "));
    W(xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL));
    W(xmlTextWriterStartElementNS(w, NULL, BAD_CAST "alert",
                                  BAD_CAST "urn:oasis:names:tc:emergency:cap:1.2"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "identifier", BAD_CAST ident));
    W(xmlTextWriterWriteElement(w, BAD_CAST "sender", BAD_CAST sn));
    W(xmlTextWriterWriteElement(w, BAD_CAST "sent", BAD_CAST sent_out));
    W(xmlTextWriterWriteElement(w, BAD_CAST "status", BAD_CAST "Actual"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "msgType", BAD_CAST msg_type));
    W(xmlTextWriterWriteElement(w, BAD_CAST "source", BAD_CAST "impa-nowcast"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "scope", BAD_CAST "Public"));
    if (ev->references && strcmp(msg_type, "Alert") != 0)
        W(xmlTextWriterWriteElement(w, BAD_CAST "references", BAD_CAST ev->references));
    W(xmlTextWriterStartElement(w, BAD_CAST "info"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "language", BAD_CAST "en"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "category", BAD_CAST "Met"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "event",
                                BAD_CAST(reg ? "Probability of severe convective echo"
                                             : "Severe convective echo")));
    W(xmlTextWriterWriteElement(w, BAD_CAST "responseType", BAD_CAST(cancel ? "AllClear" : "Monitor")));
    /* A Cancel says the hazard is over: urgency Past, and CAP 1.2's own words for
     * severity Minor ("minimal to no known threat to life or property") and
     * certainty Unlikely ("not expected to occur"), not the track's last values. */
    W(xmlTextWriterWriteElement(w, BAD_CAST "urgency",
                                BAD_CAST(cancel ? "Past" : impa_cap_urgency(ev->first_lead_minutes))));
    W(xmlTextWriterWriteElement(w, BAD_CAST "severity",
                                BAD_CAST(cancel ? "Minor"
                                                : impa_cap_severity(reg ? ev->threshold_dbz
                                                                        : ev->max_dbz))));
    W(xmlTextWriterWriteElement(w, BAD_CAST "certainty",
                                BAD_CAST(cancel            ? "Unlikely"
                                         : ev->has_prob ? impa_cap_certainty_prob(ev->prob)
                                                         : impa_cap_certainty(ev->first_lead_minutes))));
    W(xmlTextWriterWriteElement(w, BAD_CAST "onset", BAD_CAST onset));
    W(xmlTextWriterWriteElement(w, BAD_CAST "expires", BAD_CAST expires));
    W(xmlTextWriterWriteElement(w, BAD_CAST "senderName", BAD_CAST "impa-nowcast radar nowcast"));
    if (reg && cancel)
        snprintf(v, sizeof v, "Severe convective echo over %s no longer likely enough",
                 reg->name);
    else if (reg)
        snprintf(v, sizeof v, "%.0f %% chance of >= %.0f dBZ echo over %s within %d min",
                 100.0 * ev->prob, ev->threshold_dbz, reg->name, reg->alert_within_minutes);
    else if (cancel)
        snprintf(v, sizeof v, "Severe convective echo cell %lld no longer forecast",
                 (long long)ev->cell_id);
    else
        snprintf(v, sizeof v, "Severe convective echo (max %.0f dBZ) forecast in %d min",
                 ev->max_dbz, ev->first_lead_minutes);
    W(xmlTextWriterWriteElement(w, BAD_CAST "headline", BAD_CAST v));
    if (reg && cancel)
        snprintf(v, sizeof v, "Watch region %s: the radar nowcast's probability of >= %.0f dBZ "
                 "within %d minutes is below %.0f %% now; the earlier message is cancelled.",
                 reg->name, ev->threshold_dbz, reg->alert_within_minutes,
                 100.0 * reg->alert_probability);
    else if (reg)
        snprintf(v, sizeof v, "Watch region %s: the radar nowcast gives a probability of %.0f %% "
                 "for reflectivity >= %.0f dBZ somewhere in the region within %d minutes of "
                 "issue (alert level %.0f %%), first reached %d minutes after issue.",
                 reg->name, 100.0 * ev->prob, ev->threshold_dbz, reg->alert_within_minutes,
                 100.0 * reg->alert_probability, ev->first_lead_minutes);
    else if (cancel)
        snprintf(v, sizeof v, "Radar nowcast cell %lld is no longer forecast; the earlier "
                 "message is cancelled.", (long long)ev->cell_id);
    else
        snprintf(v, sizeof v, "Radar nowcast cell %lld: maximum reflectivity %.1f dBZ, "
                 "area %.1f km2, first forecast %d minutes after issue.",
                 (long long)ev->cell_id, ev->max_dbz, ev->area_km2, ev->first_lead_minutes);
    W(xmlTextWriterWriteElement(w, BAD_CAST "description", BAD_CAST v));
    if (!cancel) {
        if (!reg) {
            snprintf(v, sizeof v, "%.1f", ev->max_dbz);
            parameter(w, &ok, "max_dbz", v);
        }
        if (ev->has_prob) {
            snprintf(v, sizeof v, "%.2f", ev->prob);
            parameter(w, &ok, "probability", v);
        }
    }
    if (reg) {
        parameter(w, &ok, "region", reg->name);
        snprintf(v, sizeof v, "%.1f", ev->threshold_dbz);
        parameter(w, &ok, "threshold_dbz", v);
        snprintf(v, sizeof v, "%d", reg->alert_within_minutes);
        parameter(w, &ok, "within_minutes", v);
    } else {
        snprintf(v, sizeof v, "%lld", (long long)ev->cell_id);
        parameter(w, &ok, "cell_id", v);
    }
    /* the scan time the forecast was issued from (sent is the time of sending) */
    parameter(w, &ok, "issue_time", issue_s);
    W(xmlTextWriterStartElement(w, BAD_CAST "area"));
    if (reg)
        snprintf(v, sizeof v, "%s: watch region %s", domain ? domain : "", reg->name);
    else
        snprintf(v, sizeof v, "%s: forecast outline of radar cell %lld", domain ? domain : "",
                 (long long)ev->cell_id);
    W(xmlTextWriterWriteElement(w, BAD_CAST "areaDesc", BAD_CAST v));
    if (ok && !(reg ? region_polygon(w, reg) : polygons(w, ev)))
        ok = 0;
    W(xmlTextWriterEndElement(w)); /* area */
    W(xmlTextWriterEndElement(w)); /* info */
    W(xmlTextWriterEndElement(w)); /* alert */
    W(xmlTextWriterEndDocument(w));
    xmlFreeTextWriter(w); /* flushes into xb */
    int rc;
    size_t n = (size_t)xmlBufferLength(xb);
    if (!ok)
        rc = IMPA_ENOMEM;
    else if (n + 1 > buflen)
        rc = IMPA_ENOSPC;
    else {
        memcpy(buf, xmlBufferContent(xb), n);
        buf[n] = '\0';
        rc = (int)n;
    }
    xmlBufferFree(xb);
    return rc;
}
