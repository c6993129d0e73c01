/* Names of the forecast products' enumerations (impa/forecast.h): the words the
 * archive, the protocol, the verification log and the daemon's log all use. */
#include "impa/forecast.h"

const char *impa_method_name(impa_method_t m)
{
    switch (m) {
    case IMPA_METHOD_IMPANET: return "impa-net";
    case IMPA_METHOD_EXTRAPOLATION: return "extrapolation";
    case IMPA_METHOD_PERSISTENCE: return "persistence";
    }
    return "unknown";
}

const char *impa_alert_event_name(impa_alert_event_t e)
{
    switch (e) {
    case IMPA_ALERT_NEW: return "new";
    case IMPA_ALERT_UPDATED: return "updated";
    case IMPA_ALERT_ENDED: return "ended";
    }
    return "?";
}
