#include "daemon/privilege.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "impa/error.h"

int impa_priv_user_name_valid(const char *user)
{
    size_t n = strlen(user);
    if (n == 0)
        return 1;
    if (n > 32 || user[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = user[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

impa_priv_decision_t impa_priv_decide(uid_t euid, const char *user, const char *invocation_id,
                                      const char *allow_root, char *msg, size_t msglen)
{
    if (msglen)
        msg[0] = '\0';
    if (euid != 0)
        return IMPA_PRIV_KEEP;
    if (user && user[0]) {
        snprintf(msg, msglen, "started as root: dropping to daemon.user '%s'", user);
        return IMPA_PRIV_DROP;
    }
    if (allow_root && !strcmp(allow_root, "1")) {
        snprintf(msg, msglen,
                 "running as root (IMPA_ALLOW_ROOT=1): every file a scan or a subscriber "
                 "reaches is handled with root's rights");
        return IMPA_PRIV_ALLOW;
    }
    if (invocation_id && invocation_id[0])
        snprintf(msg, msglen,
                 "refusing to run as root: this systemd unit starts impa-nowcastd as root; "
                 "keep DynamicUser=yes of the shipped unit (impa-nowcast.service), or set "
                 "daemon.user: NAME in the configuration to drop to that account");
    else
        snprintf(msg, msglen,
                 "refusing to run as root outside systemd: run it through the shipped unit "
                 "(systemctl start impa-nowcast, DynamicUser=yes), as an unprivileged user, "
                 "or set daemon.user: NAME in the configuration to drop to that account "
                 "(IMPA_ALLOW_ROOT=1 keeps root, for containers only)");
    return IMPA_PRIV_REFUSE;
}

int impa_priv_drop(const char *user, char *err, size_t errlen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc = getpwnam_r(user, &pw, buf, sizeof buf, &res);
    if (rc || !res)
        return impa_err(err, errlen, IMPA_ECONFIG, "daemon.user '%s': %s", user,
                        rc ? strerror(rc) : "no such user");
    uid_t uid = pw.pw_uid;
    gid_t gid = pw.pw_gid;
    if (uid == 0)
        return impa_err(err, errlen, IMPA_ECONFIG,
                        "daemon.user '%s' has uid 0: name an unprivileged account", user);
    if (initgroups(user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        int e = errno;
        return impa_err(err, errlen, IMPA_EIO, "cannot drop root to daemon.user '%s': %s", user,
                        strerror(e));
    }
    /* setuid as root sets the real, effective and saved uid: none may be 0 now,
     * and neither root's uid nor its group may be taken back. */
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid ||
        eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
        return impa_err(err, errlen, IMPA_EIO,
                        "dropping root to daemon.user '%s' left other ids behind", user);
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0)
        return impa_err(err, errlen, IMPA_EIO,
                        "dropping root to daemon.user '%s' can be undone: refusing to run", user);
    return 0;
}
