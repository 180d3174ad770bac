/*
 * test_config.c - config parsing: presets, defaults, every error message,
 * the lexer's comment and quote rules, config-check's every-problem report
 * with FILE:LINE and fixes, ownership, FIFOs and symlinks, what the
 * daemon's user can read, and that the documentation names every key
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgload.h"
#include "config.h"
#include "explain.h"
#include "paths.h"
#include "secret.h"
#include "state.h"
#include "tap.h"
#include "tokenresp.h"

#define CID "6731de76-14a6-49ae-97bc-6eba6914391e"

static void test_presets(void)
{
    struct config *cfg = load("socket = /run/o2.sock\n"
                              "state_dir = /var/lib/o2\n"
                              "allow_users = root\n"
                              "[account alice@contoso.com]\n"
                              "tenant = contoso.com\n"
                              "client_id = 00000000-0000-4000-8000-000000001111\n"
                              "[account gov]\n"
                              "provider = microsoft-usgov\n"
                              "client_id = 00000000-0000-4000-8000-000000002222\n"
                              "tenant = 3f2504e0-4f89-11d3-9a0c-0305e82c3301\n"
                              "login = shared@agency.gov\n"
                              "[account cn]\n"
                              "provider = microsoft-china\n"
                              "client_id = 00000000-0000-4000-8000-000000003333\n"
                              "tenant = common\n"
                              "[account g]\n"
                              "provider = google\n"
                              "client_id = 4444\n"
                              "[account any]\n"
                              "provider = custom\n"
                              "client_id = 5555\n"
                              "token_endpoint = https://idp.example.org/token\n"
                              "scope = smtp\n"
                              "[account test]\n"
                              "client_id = 00000000-0000-4000-8000-000000006666\n"
                              "authority = https://127.0.0.1:8443/\n"
                              "tenant = t.example\n");
    struct account_conf *a;

    ok(cfg != NULL, "a config with every provider loads (%s)", err);
    if (cfg == NULL)
        return;
    a = config_find(cfg, "alice@contoso.com");
    ok(a && strcmp(a->endpoint,
                   "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token") == 0,
       "microsoft: endpoint from authority and tenant");
    ok(a && strcmp(a->scope, "https://outlook.office.com/SMTP.Send offline_access") == 0,
       "microsoft: default scope");
    ok(a && strcmp(a->login, "alice@contoso.com") == 0, "login defaults to the account name");
    a = config_find(cfg, "gov");
    ok(a && strncmp(a->endpoint, "https://login.microsoftonline.us/3f2504e0", 41) == 0 &&
           strstr(a->scope, "outlook.office365.us") != NULL,
       "microsoft-usgov: login host and scope");
    ok(a && strcmp(a->login, "shared@agency.gov") == 0, "login can differ from the account");
    a = config_find(cfg, "cn");
    ok(a &&
           strcmp(a->endpoint,
                  "https://login.partner.microsoftonline.cn/common/oauth2/v2.0/token") == 0 &&
           strstr(a->scope, "partner.outlook.cn") != NULL,
       "microsoft-china: login host, tenant common, scope");
    a = config_find(cfg, "g");
    ok(a && strcmp(a->endpoint, "https://oauth2.googleapis.com/token") == 0 &&
           strcmp(a->scope, "https://mail.google.com/") == 0,
       "google: endpoint and scope");
    a = config_find(cfg, "any");
    ok(a && strcmp(a->endpoint, "https://idp.example.org/token") == 0, "custom: token_endpoint");
    a = config_find(cfg, "test");
    ok(a && strcmp(a->endpoint, "https://127.0.0.1:8443/t.example/oauth2/v2.0/token") == 0,
       "authority override, trailing slash dropped");
    ok(cfg->refresh_ahead_s == 600 && cfg->sock_mode == 0660, "global defaults");
    ok(config_find(cfg, "nobody") == NULL, "unknown account is not found");
    config_free(cfg);
}

static void test_errors(void)
{
    fails_with("[account a]\nclient_id = 1\nbogus = 2\n", ":3: unknown key \"bogus\"",
               "unknown key names file and line");
    fails_with("[account a]\nclient_id = 1\nclient_secret = hunter2\n",
               "secrets are read from files only", "an inline secret is refused");
    fails_with("[account a]\n", "client_id is missing", "client_id is required");
    fails_with("[account a]\nclient_id = 1\n[account a]\nclient_id = 2\n", "defined twice",
               "duplicate account");
    fails_with("[account a]\nclient_id = 1\nclient_id = 2\n", "set twice", "duplicate key");
    fails_with("[acount a]\n", "unknown section [acount]", "misspelt section");
    fails_with("[account ../etc]\nclient_id = 1\n", "account name", "path-like account name");
    fails_with("[account a]\nclient_id = 1\nprovider = yahoo\n", "provider \"yahoo\" is unknown",
               "unknown provider");
    fails_with("[account a]\nclient_id = 1\nprovider = custom\n", "scope is required",
               "custom without scope");
    fails_with("[account a]\nclient_id = 1\nprovider = custom\nscope = x\n", "needs token_endpoint",
               "custom without endpoint");
    fails_with("[account a]\nclient_id = " CID
               "\ntenant = common\ntoken_endpoint = http://idp/token\n",
               "must be an https:// URL", "plain http endpoint");
    fails_with("[account a]\nclient_id = " CID "\ntenant = common\nlogin = a b\n", "login",
               "login with a space");
    fails_with("[account a]\nclient_id = " CID "\ntenant = a/b\n", "tenant", "tenant with a slash");
    fails_with("socket = relative/path\n", "absolute path", "relative socket");
    fails_with("socket_mode = 0666\n", "no access for others", "world-accessible socket mode");
    fails_with("socket_mode = 9\n", "octal", "bad socket mode");
    fails_with("refresh_ahead = soon\n", "refresh_ahead", "bad refresh_ahead");
    fails_with("allow_users = no-such-user-here\n", "no such user", "unknown allow_users");
    fails_with("allow_groups = no-such-group-here\n", "no such group", "unknown allow_groups");
    fails_with("user = no-such-user-here\n", "no such user", "unknown user");
    fails_with("[account a]\nstate_dir = /x\n", "before the first [account] section",
               "global key inside an account");
    fails_with("[account a]\nclient_id = 1\nnonsense line\n", ":3: expected \"key = value\"",
               "line without '='");
    ok(config_load("/nonexistent/o2.conf", err, sizeof(err)) == NULL &&
           strstr(err, "/nonexistent/o2.conf: No such file") != NULL,
       "a missing file is named");
}

static void test_secret_files(void)
{
    char secret_path[4200];
    char text[8400];
    struct config *cfg;
    char *secret = NULL;
    FILE *fp;

    snprintf(secret_path, sizeof(secret_path), "%s/secret", dir);
    fp = fopen(secret_path, "w");
    fputs("s3cr3t-value~\n", fp);
    fclose(fp);
    snprintf(text, sizeof(text),
             "user = root\n[account a]\nclient_id = " CID
             "\ntenant = common\nclient_secret_file = %s\n",
             secret_path);
    cfg = load(text);
    ok(cfg != NULL, "config with a secret file loads");
    if (cfg == NULL)
        return;
    chmod(secret_path, 0644);
    ok(config_secret_read(&cfg->accounts[0], &secret, err, sizeof(err)) < 0 &&
           strstr(err, "chmod 600") != NULL && strstr(err, secret_path) != NULL,
       "a world-readable secret is refused, naming file and fix: %s", err);
    chmod(secret_path, 0640);
    ok(config_secret_read(&cfg->accounts[0], &secret, err, sizeof(err)) < 0,
       "a group-readable secret is refused");
    chmod(secret_path, 0600);
    ok(config_secret_read(&cfg->accounts[0], &secret, err, sizeof(err)) == 0 && secret != NULL &&
           strcmp(secret, "s3cr3t-value~") == 0,
       "a 0600 secret is read, newline trimmed");
    secret_free(secret);
    unlink(secret_path);
    ok(config_secret_read(&cfg->accounts[0], &secret, err, sizeof(err)) < 0 &&
           strstr(err, "No such file") != NULL,
       "a missing secret file is named");
    config_free(cfg);
}

/* test_lexer_rules - comments after values, quotes, and the one socket default */
static void test_lexer_rules(void)
{
    struct config *cfg;

    cfg = load("socket = /run/x/socket   # where Debian-exim can reach it\n"
               "state_dir = /var/lib/x\t; a tab, then a semicolon comment\n"
               "[account a]   # the relay\n"
               "client_id = " CID "\n"
               "tenant = common\n"
               "token_endpoint = https://idp.example/t#frag\n");
    ok(cfg != NULL && strcmp(cfg->socket, "/run/x/socket") == 0,
       "a '#' comment after white space is not part of the value (%s)", cfg ? cfg->socket : err);
    ok(cfg != NULL && strcmp(cfg->state_dir, "/var/lib/x") == 0,
       "nor is a ';' comment after a tab");
    ok(cfg != NULL && cfg->n_accounts == 1 && strcmp(cfg->accounts[0].name, "a") == 0,
       "a comment after a section header is dropped");
    ok(cfg != NULL && strcmp(cfg->accounts[0].endpoint, "https://idp.example/t#frag") == 0,
       "a '#' with no white space before it stays in the value");
    config_free(cfg);
    fails_with("[account a]\nclient_id = \"" CID "\"\n", ":2: client_id: the value is in quotes",
               "a quoted value is refused with its line");
    fails_with("[account a]\nclient_id = '" CID "'\n", "fix: remove the quotes",
               "single quotes too, with the fix");
    cfg = load("#socket = /somewhere/else\nstate_dir = /var/lib/x\n");
    ok(cfg != NULL && strcmp(cfg->socket, OAUTH2_DEFAULT_SOCKET) == 0,
       "no socket line: the built-in socket of paths.h (%s)", cfg ? cfg->socket : err);
    config_free(cfg);
}

/* test_every_problem - config-check's view: every problem, each with FILE:LINE and a fix */
static void test_every_problem(void)
{
    char want[4200];
    struct config *cfg;
    int in_order = 1;
    int n = 0;
    int i;

    load("stat_dir = /var/lib/x\n"                        /* 1 */
         "[account relay@contoso.com]\n"                  /* 2 */
         "client_id = contoso-relay-app\n"                /* 3 */
         "tenant = 3f2504e0-4f89-11d3-9a0c-0305e82c330\n" /* 4 */
         "[acount b]\n"                                   /* 5 */
         "client_id = " CID "\n"                          /* 6 */
         "[account c]\n"                                  /* 7 */
         "client_id = " CID "\n"                          /* 8 */
         "provder = microsoft\n");                        /* 9 */
    ok(strstr(err, ":1: unknown key \"stat_dir\"; did you mean state_dir?") != NULL &&
           strstr(err, "and 5 more problems") != NULL,
       "config_load names the first problem and how many more: %s", err);
    n_problems = 0;
    cfg = config_check_load(path, collect, NULL, &n);
    ok(cfg != NULL && n == 6 && n_problems == 6, "config-check reports all 6 problems (%d)",
       n_problems);
    for (i = 1; i < n_problems && i < 32; i++) {
        const char *a = problems[i - 1] + strlen(path) + 1;
        const char *b = problems[i] + strlen(path) + 1;

        if (strtol(a, NULL, 10) > strtol(b, NULL, 10))
            in_order = 0;
    }
    ok(in_order, "in line order");
    snprintf(want, sizeof(want), "%s:1: unknown key \"stat_dir\"; did you mean state_dir?", path);
    ok(reported(want, NULL) != NULL, "line 1: did you mean state_dir?");
    snprintf(want, sizeof(want), "%s:3: account relay@contoso.com: client_id", path);
    ok(reported(want, "Application (client) ID > ") || reported(want, "Overview > Application"),
       "line 3: client_id is not a GUID, and where to copy it from: %s",
       reported(want, NULL) ? reported(want, NULL) : "(none)");
    snprintf(want, sizeof(want), "%s:4: account relay@contoso.com: tenant", path);
    ok(reported(want, "not a full GUID") != NULL, "line 4: a tenant GUID with a digit missing");
    snprintf(want, sizeof(want), "%s:5: unknown section [acount]; did you mean [account]?", path);
    ok(reported(want, NULL) != NULL, "line 5: did you mean [account]?");
    snprintf(want, sizeof(want), "%s:9: unknown key \"provder\"; did you mean provider?", path);
    ok(reported(want, NULL) != NULL, "line 9: did you mean provider?");
    snprintf(want, sizeof(want), "%s:7: account c: tenant is missing", path);
    ok(reported(want, "Directory (tenant) ID") && reported(want, "AADSTS50194"),
       "line 7: tenant missing, where the Directory (tenant) ID is shown, and AADSTS50194");
    config_free(cfg);
}

/* test_long_line - a line over the cap is one problem; config-check goes on after it */
static void test_long_line(void)
{
    char *text = malloc(6000);
    struct config *cfg;
    int n = 0;

    if (text == NULL)
        return;
    memcpy(text, "state_dir = /", 13);
    memset(text + 13, 'x', 5000);
    snprintf(text + 5013, 6000 - 5013, "\nsokcet = /run/x\n");
    config_free(load(text));
    free(text);
    n_problems = 0;
    cfg = config_check_load(path, collect, NULL, &n);
    ok(n == 2 && reported(":1: line longer than 4096 bytes", NULL) &&
           reported(":2: unknown key \"sokcet\"; did you mean socket?", NULL),
       "an over-long line, then the next line's problem (%d)", n);
    config_free(cfg);
}

/* test_microsoft_ids - GUIDs where Microsoft requires them, tenant never silently common */
static void test_microsoft_ids(void)
{
    struct config *cfg;

    fails_with("[account a]\nclient_id = contoso-relay-app\ntenant = contoso.com\n",
               ":2: account a: client_id \"contoso-relay-app\" is not an Application (client) ID",
               "a client_id that is not a GUID");
    fails_with("[account a]\nclient_id = 6731de76-14a6-49ae-97bc-6eba6914391\ntenant = c.com\n",
               "is not an Application (client) ID", "a client_id GUID one digit short");
    fails_with("[account a]\nclient_id = " CID "\n", "tenant is missing",
               "a Microsoft account needs a tenant");
    cfg = load("[account a]\nclient_id = " CID "\ntenant = organizations\n"
               "[account g]\nprovider = google\nclient_id = 123.apps.googleusercontent.com\n");
    ok(explain_aadsts(50194) != NULL && strstr(explain_aadsts(50194)->fix, "Directory (tenant) ID"),
       "AADSTS50194 (single-tenant app over common) has a fix: %s",
       explain_aadsts(50194) ? explain_aadsts(50194)->text : "(none)");
    ok(cfg != NULL && strstr(cfg->accounts[0].endpoint, "/organizations/") != NULL,
       "tenant = organizations written on purpose is fine; google ids are not GUIDs (%s)", err);
    config_free(cfg);
}

/* test_ownership - who may change the config and the secrets */
static void test_ownership(void)
{
    char secret_path[4200];
    char state[4200];
    char text[9000];
    struct config *cfg;
    char *secret = NULL;
    struct stat st;

    config_free(load("[account a]\nclient_id = " CID "\ntenant = common\n"));
    chmod(path, 0666);
    err[0] = '\0';
    cfg = config_load(path, err, sizeof(err));
    ok(cfg == NULL && strstr(err, "writable by group or others (mode 0666)") &&
           strstr(err, "chmod go-w"),
       "a world-writable config is refused, with the fix: %s", err);
    config_free(cfg);
    chmod(path, 0644);
    if (geteuid() != 0) {
        ok(1, "# SKIP ownership checks need root");
        return;
    }
    if (chown(path, 65534, 65534) < 0)
        return;
    cfg = config_load(path, err, sizeof(err));
    ok(cfg == NULL && strstr(err, "owned by nobody") && strstr(err, "chown root"),
       "a config owned by another user is refused: %s", err);
    config_free(cfg);
    chown(path, 0, 0);

    snprintf(secret_path, sizeof(secret_path), "%s/owned.secret", dir);
    write_file(secret_path, "s3cr3t\n", 0600);
    chown(secret_path, 65534, 65534);
    snprintf(state, sizeof(state), "%s/state", dir);
    mkdir(state, 0700);
    chown(state, 65534, 65534);
    snprintf(text, sizeof(text),
             "state_dir = %s\n[account a]\nclient_id = " CID "\ntenant = common\n"
             "client_secret_file = %s\n",
             state, secret_path);
    cfg = load(text);
    ok(cfg != NULL && config_secret_read(&cfg->accounts[0], &secret, err, sizeof(err)) < 0 &&
           strstr(err, "owned by nobody") && strstr(err, "fix: chown root"),
       "a secret file owned by another user is refused: %s", err);
    secret_free(secret);
    n_problems = 0;
    ok(cfg != NULL && config_check_files(cfg, collect, NULL) == 2 &&
           reported(":1: state_dir", "owned by nobody") != NULL &&
           reported("state_dir", "fix: chown") != NULL,
       "config-check: a state_dir owned by another user, with line and fix: %s",
       n_problems > 0 ? problems[0] : "(none)");
    ok(cfg != NULL && stat(state, &st) == 0 &&
           config_state_dir_owner(cfg, 0, &st, err, sizeof(err)) < 0,
       "and the daemon (as root, no user =) refuses it: %s", err);
    config_free(cfg);
    unlink(secret_path);
    rmdir(state);
}

static void on_alarm(int sig)
{
    (void)sig;
    printf("not ok - reading a FIFO wedged the test\n");
    _exit(1);
}

/* test_special_files - a FIFO wedges nothing; a symlink to a regular file is fine */
static void test_special_files(void)
{
    char fifo[4200];
    char real[4200];
    char link[4200];
    char text[9000];
    struct config *cfg;
    char *secret = NULL;

    signal(SIGALRM, on_alarm);
    alarm(20);
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    snprintf(real, sizeof(real), "%s/real.secret", dir);
    snprintf(link, sizeof(link), "%s/link.secret", dir);
    mkfifo(fifo, 0600);
    cfg = config_load(fifo, err, sizeof(err));
    ok(cfg == NULL && strstr(err, "is a FIFO, not a regular file") && strstr(err, fifo),
       "a FIFO as the config is refused at once: %s", err);
    config_free(cfg);
    write_file(real, "s3cr3t\n", 0600);
    symlink(real, link);
    snprintf(text, sizeof(text),
             "[account a]\nclient_id = " CID "\ntenant = common\n"
             "client_secret_file = %s\n",
             link);
    cfg = load(text);
    ok(cfg != NULL && config_secret_read(&cfg->accounts[0], &secret, err, sizeof(err)) == 0 &&
           secret != NULL && strcmp(secret, "s3cr3t") == 0,
       "a symlink to a 0600 secret file is followed (%s)", cfg ? "" : err);
    secret_free(secret);
    secret = NULL;
    unlink(link);
    symlink(fifo, link);
    ok(cfg != NULL && config_secret_read(&cfg->accounts[0], &secret, err, sizeof(err)) < 0 &&
           strstr(err, "is a FIFO") && strstr(err, "client_secret_file"),
       "a FIFO behind the secret file's name is refused at once: %s", err);
    config_free(cfg);
    fails_with(text, ":4: account a: client_secret_file", "config_load refuses it too");
    alarm(0);
    unlink(link);
    unlink(real);
    unlink(fifo);
}

/* test_daemon_user - run as root, config-check looks at the files as the daemon's user */
static void test_daemon_user(void)
{
    char cert[4200];
    char key[4200];
    char text[9000];
    char want[9000];
    struct config *cfg;

    if (geteuid() != 0) {
        ok(1, "# SKIP needs root");
        return;
    }
    snprintf(cert, sizeof(cert), "%s/app.pem", dir);
    snprintf(key, sizeof(key), "%s/app.key", dir);
    write_file(cert, "-----BEGIN CERTIFICATE-----\n", 0600);
    write_file(key, "-----BEGIN PRIVATE KEY-----\n", 0600);
    snprintf(text, sizeof(text),
             "user = nobody\nstate_dir = /nonexistent/state\n[account a]\nclient_id = " CID
             "\ntenant = contoso.com\nclient_certificate_file = %s\nclient_key_file = %s\n",
             cert, key);
    chmod(dir, 0700);
    cfg = load(text);
    n_problems = 0;
    ok(cfg != NULL && config_check_files(cfg, collect, NULL) == 3,
       "the daemon's user cannot enter the directory: config, certificate and key (%d)",
       n_problems);
    snprintf(want, sizeof(want),
             "cannot enter %s (mode 0700); fix: chgrp nogroup %s && chmod g+x %s", dir, dir, dir);
    ok(reported(want, NULL) != NULL && reported(":6: account a: client_certificate_file", want),
       "each with its line and the chgrp/chmod: %s", n_problems > 0 ? problems[0] : "(none)");
    chmod(dir, 0711);
    n_problems = 0;
    ok(cfg != NULL && config_check_files(cfg, collect, NULL) == 2, "then the files themselves (%d)",
       n_problems);
    snprintf(want, sizeof(want), "fix: chmod 644 %s", cert);
    ok(reported(":6: account a: client_certificate_file", want) != NULL,
       "the certificate is public: chmod 644");
    snprintf(want, sizeof(want), "fix: chown nobody %s && chmod 600 %s", key, key);
    ok(reported(":7: account a: client_key_file", want) != NULL,
       "the key goes to the daemon's user: chown, chmod 600");
    chown(key, 65534, 65534);
    chmod(cert, 0644);
    n_problems = 0;
    ok(cfg != NULL && config_check_files(cfg, collect, NULL) == 0,
       "after the fixes nothing is left (%s)", n_problems > 0 ? problems[0] : "");
    config_free(cfg);
    chmod(dir, 0700);
    unlink(cert);
    unlink(key);
}

/* file_contains - whether the file at top_srcdir/rel contains needle */
static int file_contains(const char *rel, const char *needle)
{
    const char *top = getenv("top_srcdir");
    char p[4096];
    char *buf;
    FILE *fp;
    size_t n;
    int found;

    snprintf(p, sizeof(p), "%s/%s", top ? top : "..", rel);
    fp = fopen(p, "r");
    if (fp == NULL)
        return 0;
    buf = calloc(1, 1 << 20);
    n = fread(buf, 1, (1 << 20) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    found = strstr(buf, needle) != NULL;
    free(buf);
    return found;
}

static void test_documented(void)
{
    const char *name;
    int is_account;
    size_t i;
    int conf_ok = 1;
    int man_ok = 1;

    for (i = 0; (name = config_key_name(i, &is_account)) != NULL; i++) {
        char needle[128];

        snprintf(needle, sizeof(needle), "%s =", name);
        if (!file_contains("conf/oauth2-token-helper.conf", needle)) {
            conf_ok = 0;
            printf("# %s missing from conf/oauth2-token-helper.conf\n", name);
        }
        snprintf(needle, sizeof(needle), ".B %s", name);
        if (!file_contains("man/oauth2-token-helper.conf.5", needle)) {
            man_ok = 0;
            printf("# %s missing from man/oauth2-token-helper.conf.5\n", name);
        }
    }
    ok(conf_ok, "conf/oauth2-token-helper.conf documents every key");
    ok(man_ok, "oauth2-token-helper.conf(5) documents every key");
}

/* read_doc - the file at top_srcdir/rel, NUL-terminated (free it), or NULL */
static char *read_doc(const char *rel)
{
    const char *top = getenv("top_srcdir");
    char p[4096];
    char *buf;
    FILE *fp;
    size_t n;

    snprintf(p, sizeof(p), "%s/%s", top ? top : "..", rel);
    fp = fopen(p, "r");
    if (fp == NULL)
        return NULL;
    buf = calloc(1, 1 << 20);
    n = fread(buf, 1, (1 << 20) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* man_entry - the text of the man page's ".TP\n.B name" entry, up to the next .TP or .SH */
static int man_entry(const char *man, const char *name, char *out, size_t outsize)
{
    char needle[128];
    const char *start;
    const char *end;
    const char *sh;

    snprintf(needle, sizeof(needle), "\n.TP\n.B %s\n", name);
    start = strstr(man, needle);
    if (start == NULL)
        return -1;
    start += strlen(needle);
    end = strstr(start, "\n.TP\n");
    sh = strstr(start, "\n.SH ");
    if (end == NULL || (sh != NULL && sh < end))
        end = sh;
    if (end == NULL)
        end = start + strlen(start);
    snprintf(out, outsize, "%.*s", (int)(end - start), start);
    return 0;
}

/* key_known - whether name is in the table, and in which scope */
static int key_known(const char *name, int is_account)
{
    struct config_key_info k;
    size_t i;

    for (i = 0; config_key_info(i, &k) == 0; i++)
        if (strcmp(k.name, name) == 0)
            return k.is_account == is_account;
    return 0;
}

/*
 * test_table_agrees - oauth2-token-helper.conf(5) and the sample config
 * agree with the key table: every key in its section, each default named
 * in its entry and commented out as "#key = default" in the sample, no key
 * documented that the table does not know, no refused key in the table.
 */
static void test_table_agrees(void)
{
    char *man = read_doc("man/oauth2-token-helper.conf.5");
    char *conf = read_doc("conf/oauth2-token-helper.conf");
    struct config_key_info k;
    const char *account_sh;
    const char *p;
    const char *forbidden;
    char entry[8192];
    char needle[512];
    int scope_ok = 1;
    int dflt_ok = 1;
    int conf_ok = 1;
    int extra_ok = 1;
    int forbidden_ok = 1;
    int doc_ok = 1;
    size_t i;

    if (man == NULL || conf == NULL) {
        ok(0, "the man page and the sample config can be read");
        free(man);
        free(conf);
        return;
    }
    account_sh = strstr(man, "\n.SH ACCOUNT SETTINGS");
    ok(account_sh != NULL && strstr(man, "\n.SH GLOBAL SETTINGS") < account_sh,
       "the man page has GLOBAL SETTINGS, then ACCOUNT SETTINGS");
    if (account_sh == NULL) {
        free(man);
        free(conf);
        return;
    }
    for (i = 0; config_key_info(i, &k) == 0; i++) {
        const char *at;

        snprintf(needle, sizeof(needle), "\n.TP\n.B %s\n", k.name);
        at = strstr(man, needle);
        if (at == NULL || (at > account_sh) != k.is_account) {
            scope_ok = 0;
            printf("# %s: not under %s SETTINGS in the man page\n", k.name,
                   k.is_account ? "ACCOUNT" : "GLOBAL");
        }
        if (k.doc == NULL || k.doc[0] == '\0' || strchr(k.doc, '\n') != NULL) {
            doc_ok = 0;
            printf("# %s: no one-line doc in the table\n", k.name);
        }
        if (k.dflt == NULL || k.dflt[0] == '\0')
            continue;
        if (man_entry(man, k.name, entry, sizeof(entry)) < 0 || strstr(entry, k.dflt) == NULL) {
            dflt_ok = 0;
            printf("# %s: the man page does not give its default %s\n", k.name, k.dflt);
        }
        snprintf(needle, sizeof(needle), "\n#%s = %s\n", k.name, k.dflt);
        if (strstr(conf, needle) == NULL) {
            conf_ok = 0;
            printf("# %s: the sample config lacks \"#%s = %s\"\n", k.name, k.name, k.dflt);
        }
    }
    for (p = strstr(man, "\n.TP\n.B "); p != NULL; p = strstr(p + 1, "\n.TP\n.B ")) {
        char name[64];
        size_t n = strcspn(p + 8, " \n");

        if (p > strstr(man, "\n.SH CHECKING"))
            break;
        snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), p + 8);
        if (!key_known(name, p > account_sh)) {
            extra_ok = 0;
            printf("# the man page documents %s, which the table lacks there\n", name);
        }
    }
    for (i = 0; (forbidden = config_forbidden_key(i)) != NULL; i++)
        if (key_known(forbidden, 0) || key_known(forbidden, 1))
            forbidden_ok = 0;
    ok(doc_ok, "every key has a one-line doc in the table");
    ok(scope_ok, "the man page lists each key under its scope");
    ok(dflt_ok, "the man page gives each key's default");
    ok(conf_ok, "the sample config shows each key's default");
    ok(extra_ok, "the man page documents no key the table lacks");
    ok(forbidden_ok, "no refused key is in the table");
    free(man);
    free(conf);
}

int main(void)
{
    if (cfgload_setup() < 0)
        return 1;
    test_presets();
    test_errors();
    test_secret_files();
    test_lexer_rules();
    test_every_problem();
    test_long_line();
    test_microsoft_ids();
    test_ownership();
    test_special_files();
    test_daemon_user();
    test_documented();
    test_table_agrees();
    cfgload_cleanup();
    return done_testing();
}
