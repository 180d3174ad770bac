/*
 * cmd_revoke.c - oauth2-token-helper revoke: forget an account's tokens here
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] revoke ACCOUNT
 *
 * DESCRIPTION
 *     Removes the state file under the account's lock, tells the running
 *     daemon to drop what it holds, and says how to end the grant at the
 *     identity platform (which this host cannot do).
 *
 * DIAGNOSTICS
 *     A daemon that refuses makes it exit 69.
 *
 * SECURITY
 *     Nothing secret is printed.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "daemonclient.h"
#include "state.h"

/* revoke_report - say what revoke did, and how to end the grant at the identity platform */
static void revoke_report(const struct config *cfg, const struct account_conf *a, int had_state)
{
    if (a->grant_type == GRANT_JWT_BEARER) {
        printf("account %s: %s\n"
               "\n"
               "This is a Google service account (grant = jwt_bearer): this host gets a new\n"
               "token at the next request from service_account_file %s.\n"
               "To stop it from sending as %s:\n"
               "  - remove the [account %s] section (or its key file) and reload the daemon;\n"
               "  - or in the Google Cloud console: IAM & Admin > Service accounts > the\n"
               "    account > Keys: delete the key (or disable the account);\n"
               "  - or in the Workspace admin console: Security > Access and data control >\n"
               "    API controls > Manage domain-wide delegation: remove its client ID.\n",
               a->name,
               had_state ? "the cached access token was dropped"
                         : "no token was cached for it here; nothing was dropped",
               a->service_account_file, a->login, a->name);
        return;
    }
    if (a->grant_type == GRANT_CLIENT_CREDENTIALS) {
        const char *cred = a->client_certificate_file != NULL && a->client_certificate_file[0]
                               ? "client_certificate_file"
                           : a->client_assertion_file != NULL && a->client_assertion_file[0]
                               ? "client_assertion_file"
                               : "client_secret_file";

        printf("account %s: %s\n"
               "\n"
               "This is an app-only account (grant = client_credentials): this host gets a new\n"
               "token at the next request from its credential (%s in %s).\n"
               "To stop it from sending as %s:\n"
               "  - remove %s from the [account %s] section and reload the daemon\n"
               "    (systemctl reload oauth2-token-helper), or remove the section;\n"
               "  - or in Microsoft Entra: App registrations > the app > Certificates & secrets:\n"
               "    delete the secret, certificate or federated credential;\n"
               "  - or Enterprise applications > the app > Permissions: remove the admin consent\n"
               "    for SMTP.SendAsApp (or Remove-MailboxPermission for its service principal).\n",
               a->name,
               had_state ? "the cached access token was dropped"
                         : "no token was cached for it here; nothing was dropped",
               cred, cfg->path, a->login, cred, a->name);
        return;
    }
    if (!had_state) {
        printf("account %s: nothing was stored for it in %s (it was never authorized here, or "
               "is already revoked); nothing to do\n",
               a->name, cfg->state_dir);
        return;
    }
    printf("account %s: refresh token and access token removed from %s\n"
           "\n"
           "This host can no longer get tokens for it. The grant itself is still valid at\n"
           "the identity platform until you revoke it there:\n"
           "  - Microsoft Entra admin center > Users > the user > Revoke sessions\n"
           "    (or PowerShell: Revoke-MgUserSignInSession -UserId USER), which ends every\n"
           "    refresh token of that user;\n"
           "  - or Enterprise applications > the app > Permissions: remove the consent;\n"
           "  - for a client secret: App registrations > the app > Certificates & secrets:\n"
           "    delete the secret.\n",
           a->name, cfg->state_dir);
}

/* cmd_revoke - forget an account's tokens here, and say how to revoke the grant */
helper_result cmd_revoke(const char *file, int argc, char **argv)
{
    const struct account_conf *acct;
    struct config *cfg;
    socketmap_status status;
    char path[4096];
    char err[512];
    struct daemon_reply reply;
    int had_state = 1;
    int fd;
    helper_result rc = RESULT_OK;

    if (argc != 1 || argv[0][0] == '-')
        return cli_usage();
    rc = cli_load_account(file, argv[0], &cfg, &acct);
    if (rc != RESULT_OK)
        return rc;
    if (state_path(path, sizeof(path), cfg->state_dir, argv[0]) < 0) {
        fprintf(stderr, "oauth2-token-helper: state_dir %s is too long for account %s\n",
                cfg->state_dir, argv[0]);
        config_free(cfg);
        return RESULT_CONFIG;
    }
    fd = state_lock(cfg->state_dir, argv[0], 0, err, sizeof(err));
    if (fd < 0 && access(path, F_OK) < 0 && errno == ENOENT) {
        had_state = 0; /* no state_dir, or nothing in it: never authorized */
    } else if (fd < 0) {
        fprintf(stderr, "oauth2-token-helper: cannot remove %s: %s\n", path, err);
        rc = RESULT_TEMPORARY;
    } else if (unlink(path) < 0) {
        had_state = 0;
        if (errno != ENOENT) {
            fprintf(stderr, "oauth2-token-helper: cannot remove %s: %s\n", path, strerror(errno));
            rc = RESULT_TEMPORARY;
        }
    }
    state_unlock(fd);
    if (daemonclient_ask(cfg, PROTOCOL_FORGET, argv[0], &reply, err, sizeof(err)) ==
        SOCKCLIENT_OK) {
        status = reply.status;
        if (status == SOCKETMAP_NOTFOUND) {
            /* Added to the config without a reload: the daemon holds nothing for it. */
        } else if (status != SOCKETMAP_OK) {
            fprintf(stderr, "oauth2-token-helper: the daemon refused: %s\n", reply.data);
            rc = RESULT_NEEDS_PERSON;
        } else if (had_state || config_app_only(acct)) {
            printf("account %s: the running daemon dropped its tokens\n", argv[0]);
            had_state = 1; /* it may have held a token in memory */
        }
    }
    daemonclient_reply_free(&reply);
    if (rc == RESULT_OK)
        revoke_report(cfg, acct, had_state);
    config_free(cfg);
    return rc;
}
