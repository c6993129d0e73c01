/* Service manager notifications (sd_notify protocol): READY=1, STATUS=...,
 * WATCHDOG=1, STOPPING=1, RELOADING=1. Uses libsystemd when the build found it,
 * otherwise sends the datagram to $NOTIFY_SOCKET itself. Without NOTIFY_SOCKET
 * every call is a no-op. */
#ifndef IMPA_DAEMON_NOTIFY_H
#define IMPA_DAEMON_NOTIFY_H

#include <stdint.h>

/* Sends one notification text ("READY=1", "STATUS=waiting for scans").
 * Returns 1 when sent, 0 when there is no service manager, < 0 on error. */
int impa_notify(const char *state);

/* The watchdog interval asked for by the service manager in microseconds
 * ($WATCHDOG_USEC, honouring $WATCHDOG_PID), 0 when none. */
uint64_t impa_notify_watchdog_usec(void);

#endif
