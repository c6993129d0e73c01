/* Root without a sandbox: the daemon never keeps root. Started with effective
 * uid 0 it either drops to the configured account (daemon.user) before it
 * forks a reader, opens a socket or writes a file, or refuses to start. Under
 * the shipped systemd units it never sees root (DynamicUser=yes). */
#ifndef IMPA_DAEMON_PRIVILEGE_H
#define IMPA_DAEMON_PRIVILEGE_H

#include <stddef.h>
#include <sys/types.h>

typedef enum {
    IMPA_PRIV_KEEP = 0,   /* not root: run as is */
    IMPA_PRIV_DROP = 1,   /* root and daemon.user set: drop to it */
    IMPA_PRIV_ALLOW = 2,  /* root kept on request (IMPA_ALLOW_ROOT=1): warning */
    IMPA_PRIV_REFUSE = 3, /* root, nothing configured: do not start */
} impa_priv_decision_t;

/* The decision, from the effective uid, daemon.user ("" = unset) and the
 * environment values of INVOCATION_ID (set by systemd for a unit's processes)
 * and IMPA_ALLOW_ROOT (NULL = unset). Writes the message to log (refusal:
 * what to do instead; allow: the warning; drop: a note; keep: "") into msg. */
impa_priv_decision_t impa_priv_decide(uid_t euid, const char *user, const char *invocation_id,
                                      const char *allow_root, char *msg, size_t msglen);

/* Drops every privilege to account `user`: supplementary groups (initgroups),
 * gid, uid (real, effective and saved), then verifies the drop cannot be
 * undone (setuid(0)/setgid(0) fail, all ids are the account's). Refuses an
 * account with uid 0. 0, or IMPA_ECONFIG/IMPA_EIO with the reason in err. */
int impa_priv_drop(const char *user, char *err, size_t errlen);

/* daemon.user's syntax (POSIX portable user name: [A-Za-z0-9._-], not
 * starting with '-', at most 32 characters); "" is valid (unset). */
int impa_priv_user_name_valid(const char *user);

#endif
