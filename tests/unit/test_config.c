/*
 * test_config.c - config parsing: presets, defaults, every error message,
 * secret-file permissions, and that the documentation names every key
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgload.h"
#include "config.h"
#include "state.h"
#include "tap.h"

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
    ok(a && strcmp(a->endpoint,
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
    fails_with("[account a]\nclient_id = 1\nprovider = custom\nscope = x\n",
               "needs token_endpoint", "custom without endpoint");
    fails_with("[account a]\nclient_id = " CID "\ntenant = common\ntoken_endpoint = http://idp/token\n",
               "must be an https:// URL", "plain http endpoint");
    fails_with("[account a]\nclient_id = " CID "\ntenant = common\nlogin = a b\n", "login", "login with a space");
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
             "user = root\n[account a]\nclient_id = " CID "\ntenant = common\nclient_secret_file = %s\n",
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

int main(void)
{
    if (cfgload_setup() < 0)
        return 1;
    test_presets();
    test_errors();
    test_secret_files();
    test_documented();
    cfgload_cleanup();
    return done_testing();
}
