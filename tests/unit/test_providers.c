/*
 * test_providers.c - provider presets and clouds: token, authorize and
 * device-code URLs, delegated and app-only scopes, tenants, the
 * client_credentials rules Entra enforces, and the files that hold keys
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authorize.h"
#include "cfgload.h"
#include "config.h"
#include "secret.h"
#include "state.h"
#include "tap.h"

#define GOV_URL                                                                                    \
    "https://login.microsoftonline.us/3f2504e0-4f89-11d3-9a0c-0305e82c3301/oauth2/v2.0/"           \
    "authorize?client_id=00000000-0000-4000-8000-000000000002&response_type=code&redirect_uri="    \
    "http%3A%2F%2Flocalhost%3A8400&scope="                                                         \
    "https%3A%2F%2Foutlook.office365.us%2FSMTP.Send%20offline_access&state=st&code_challenge=ch&"  \
    "code_challenge_method=S256"

/* streq - both NULL or equal */
static int streq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void test_clouds(void)
{
    struct config *cfg = load("[account pub]\n"
                              "client_id = 00000000-0000-4000-8000-000000000001\n"
                              "tenant = contoso.onmicrosoft.com\n"
                              "[account gov]\n"
                              "provider = microsoft-usgov\n"
                              "client_id = 00000000-0000-4000-8000-000000000002\n"
                              "tenant = 3f2504e0-4f89-11d3-9a0c-0305e82c3301\n"
                              "[account gov-app]\n"
                              "provider = microsoft-usgov\n"
                              "grant = client_credentials\n"
                              "client_id = 00000000-0000-4000-8000-000000000002\n"
                              "tenant = agency.gov\n"
                              "client_secret_file = /nonexistent\n"
                              "login = relay@agency.gov\n"
                              "[account cn]\n"
                              "provider = microsoft-china\n"
                              "client_id = 00000000-0000-4000-8000-000000000003\n"
                              "tenant = organizations\n"
                              "[account cn-app]\n"
                              "provider = microsoft-china\n"
                              "grant = client_credentials\n"
                              "client_id = 00000000-0000-4000-8000-000000000003\n"
                              "tenant = contoso.partner.onmschina.cn\n"
                              "client_certificate_file = /etc/app.pem\n"
                              "client_key_file = /etc/app.key\n"
                              "login = relay@contoso.cn\n"
                              "[account app]\n"
                              "grant = client_credentials\n"
                              "client_id = 00000000-0000-4000-8000-000000000004\n"
                              "tenant = contoso.com\n"
                              "client_secret_file = /nonexistent\n"
                              "login = relay@contoso.com\n"
                              "[account cons]\n"
                              "client_id = 00000000-0000-4000-8000-000000000005\n"
                              "tenant = consumers\n");
    struct account_conf *a;
    char *url;

    ok(cfg != NULL, "a config with every cloud loads (%s)", err);
    if (cfg == NULL)
        return;
    a = config_find(cfg, "pub");
    ok(a &&
           streq(a->endpoint, "https://login.microsoftonline.com/contoso.onmicrosoft.com/"
                              "oauth2/v2.0/token") &&
           streq(a->authorize_url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/"
                                   "oauth2/v2.0/authorize") &&
           streq(a->device_url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/"
                                "oauth2/v2.0/devicecode"),
       "microsoft: token, authorize and devicecode under login.microsoftonline.com/TENANT");
    ok(a && a->grant_type == GRANT_REFRESH_TOKEN && a->offline == OFFLINE_SCOPE && a->microsoft,
       "microsoft: refresh_token grant by default, offline_access by scope");
    a = config_find(cfg, "gov");
    ok(a &&
           streq(a->authorize_url, "https://login.microsoftonline.us/"
                                   "3f2504e0-4f89-11d3-9a0c-0305e82c3301/oauth2/v2.0/authorize") &&
           streq(a->device_url, "https://login.microsoftonline.us/"
                                "3f2504e0-4f89-11d3-9a0c-0305e82c3301/oauth2/v2.0/devicecode") &&
           streq(a->scope, "https://outlook.office365.us/SMTP.Send offline_access"),
       "microsoft-usgov: login.microsoftonline.us endpoints, outlook.office365.us scope");
    url = a ? authz_url(a, "http://localhost:8400", "st", "ch") : NULL;
    ok(url && strncmp(url, GOV_URL, strlen(GOV_URL)) == 0 &&
           strcmp(url + strlen(GOV_URL), "&response_mode=query") == 0,
       "microsoft-usgov: the authorization URL, every value encoded: %s", url ? url : "NULL");
    free(url);
    a = config_find(cfg, "gov-app");
    ok(a && a->grant_type == GRANT_CLIENT_CREDENTIALS &&
           streq(a->scope, "https://outlook.office365.us/.default") &&
           streq(a->endpoint, "https://login.microsoftonline.us/agency.gov/oauth2/v2.0/token"),
       "microsoft-usgov app-only: https://outlook.office365.us/.default");
    a = config_find(cfg, "cn");
    ok(a &&
           streq(a->authorize_url, "https://login.partner.microsoftonline.cn/organizations/"
                                   "oauth2/v2.0/authorize") &&
           streq(a->scope, "https://partner.outlook.cn/SMTP.Send offline_access"),
       "microsoft-china: login.partner.microsoftonline.cn, partner.outlook.cn scope");
    a = config_find(cfg, "cn-app");
    ok(a && streq(a->scope, "https://partner.outlook.cn/.default") &&
           streq(a->assertion_alg, "PS256"),
       "microsoft-china app-only: https://partner.outlook.cn/.default, PS256 by default");
    a = config_find(cfg, "app");
    ok(a && streq(a->scope, "https://outlook.office365.com/.default") &&
           streq(a->login, "relay@contoso.com"),
       "microsoft app-only: https://outlook.office365.com/.default, login is the mailbox");
    a = config_find(cfg, "cons");
    ok(a && streq(a->device_url,
                  "https://login.microsoftonline.com/consumers/oauth2/v2.0/devicecode"),
       "tenant consumers for a delegated account");
    config_free(cfg);
}

static void test_google_custom(void)
{
    struct config *cfg = load("[account g]\n"
                              "provider = google\n"
                              "client_id = 123.apps.googleusercontent.com\n"
                              "login = relay@example.com\n"
                              "[account c]\n"
                              "provider = custom\n"
                              "client_id = x\n"
                              "scope = smtp\n"
                              "token_endpoint = https://idp.example.org/token\n"
                              "authorize_endpoint = https://idp.example.org/auth?realm=mail\n"
                              "[account c2]\n"
                              "provider = custom\n"
                              "client_id = x\n"
                              "scope = smtp offline_access\n"
                              "token_endpoint = https://idp.example.org/token\n"
                              "device_endpoint = https://idp.example.org/device\n"
                              "[account t]\n"
                              "client_id = 00000000-0000-4000-8000-000000000007\n"
                              "tenant = contoso.test\n"
                              "authority = https://127.0.0.1:8443/\n");
    struct account_conf *a;
    char *url;
    char *scope;

    ok(cfg != NULL, "google and custom accounts load (%s)", err);
    if (cfg == NULL)
        return;
    a = config_find(cfg, "g");
    ok(a && streq(a->endpoint, "https://oauth2.googleapis.com/token") &&
           streq(a->authorize_url, "https://accounts.google.com/o/oauth2/v2/auth") &&
           streq(a->device_url, "https://oauth2.googleapis.com/device/code") &&
           streq(a->scope, "https://mail.google.com/") && a->offline == OFFLINE_ACCESS_TYPE &&
           !a->microsoft,
       "google: token, authorize and device endpoints, mail scope, access_type=offline");
    scope = a ? authz_scope(a) : NULL;
    ok(scope && streq(scope, "https://mail.google.com/"), "google: no offline_access scope added");
    free(scope);
    url = a ? authz_url(a, "http://localhost:1234", "S", "C") : NULL;
    ok(url &&
           streq(url, "https://accounts.google.com/o/oauth2/v2/auth?client_id=123.apps."
                      "googleusercontent.com&response_type=code&redirect_uri=http%3A%2F%2F"
                      "localhost%3A1234&scope=https%3A%2F%2Fmail.google.com%2F&state=S&"
                      "code_challenge=C&code_challenge_method=S256&login_hint=relay%40example.com"
                      "&access_type=offline&prompt=consent"),
       "google: the authorization URL asks for offline access and consent: %s", url ? url : "NULL");
    free(url);
    a = config_find(cfg, "c");
    ok(a && streq(a->authorize_url, "https://idp.example.org/auth?realm=mail") &&
           a->device_url == NULL,
       "custom: authorize_endpoint as given, no device endpoint unless set");
    url = a ? authz_url(a, "http://localhost", "S", "C") : NULL;
    ok(url && strncmp(url, "https://idp.example.org/auth?realm=mail&client_id=x&", 51) == 0 &&
           strstr(url, "&scope=smtp%20offline_access&") != NULL,
       "custom: parameters appended to an endpoint with a query, offline_access added");
    free(url);
    a = config_find(cfg, "c2");
    scope = a ? authz_scope(a) : NULL;
    ok(scope && streq(scope, "smtp offline_access") &&
           streq(a->device_url, "https://idp.example.org/device") && a->authorize_url == NULL,
       "custom: offline_access not added twice; device_endpoint as given");
    free(scope);
    a = config_find(cfg, "t");
    ok(a && streq(a->device_url, "https://127.0.0.1:8443/contoso.test/oauth2/v2.0/devicecode"),
       "authority override moves every endpoint");
    config_free(cfg);
}

static void test_rules(void)
{
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ngrant = "
               "client_credentials\n"
               "client_secret_file = /s\nlogin = r@contoso.com\n",
               "tenant is missing", "no silent default tenant common");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ngrant = "
               "client_credentials\ntenant = organizations\n"
               "client_secret_file = /s\nlogin = r@contoso.com\n",
               "tenant set to the tenant ID or a verified domain",
               "client_credentials over organizations");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ngrant = "
               "client_credentials\ntenant = consumers\n"
               "client_secret_file = /s\nlogin = r@contoso.com\n",
               "/consumers (AADSTS9001023)", "client_credentials over consumers");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ngrant = "
               "client_credentials\ntenant = contoso.com\n"
               "client_secret_file = /s\n",
               "needs login, the mailbox to send as", "client_credentials without login");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ngrant = "
               "client_credentials\ntenant = contoso.com\n"
               "login = r@contoso.com\n",
               "needs the app's credential", "client_credentials without secret or certificate");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ngrant = "
               "client_credentials\ntenant = contoso.com\n"
               "login = r@contoso.com\nclient_secret_file = /s\nscope = https://outlook.office.com/"
               "SMTP.Send\n",
               "ending in /.default", "client_credentials with a delegated scope");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\ngrant = password\n",
               "grant \"password\" is unknown", "unknown grant");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\nclient_secret_file = /s\n"
               "client_certificate_file = /c\nclient_key_file = /k\n",
               "not both", "secret and certificate together");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\nclient_certificate_file = /c\n",
               "go together", "certificate without key");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\nclient_key_passphrase_file = /p\n",
               "needs client_key_file", "passphrase without key");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\nclient_certificate_file = /c\nclient_key_file = /k\n"
               "assertion_alg = HS256\n",
               "must be PS256 or RS256", "HMAC assertions are not offered");
    fails_with("[account a]\nprovider = google\nclient_id = "
               "00000000-0000-4000-8000-000000000001\ngrant = client_credentials\n"
               "client_secret_file = /s\nlogin = r@example.com\n",
               "has no client_credentials grant", "google has no app-only grant for mail");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = contoso\n",
               "a tenant ID (GUID) or a domain", "a tenant that is neither GUID nor domain");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = -x.com\n",
               "tenant", "a malformed domain");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "3f2504e0-4f89-11d3-9a0c-0305e82c330\n",
               "tenant", "a GUID one digit short");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\nauthorize_endpoint = http://idp/auth\n",
               "authorize_endpoint \"http://idp/auth\" must be an https:// URL",
               "plain http authorize endpoint");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\nclient_key = -----BEGIN\n",
               "files only", "an inline key is refused");
    fails_with("[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ntenant = "
               "contoso.com\nclient_key_passphrase = x\n",
               "files only", "an inline passphrase is refused");
}

static void test_key_files(void)
{
    char key[4200];
    char pass[4200];
    char text[9000];
    struct config *cfg;
    char *out = NULL;
    FILE *fp;

    snprintf(key, sizeof(key), "%s/app.key", dir);
    snprintf(pass, sizeof(pass), "%s/app.pass", dir);
    fp = fopen(key, "w");
    fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", fp);
    fclose(fp);
    fp = fopen(pass, "w");
    fputs("correct horse\n", fp);
    fclose(fp);
    snprintf(text, sizeof(text),
             "[account a]\nclient_id = 00000000-0000-4000-8000-000000000001\ngrant = "
             "client_credentials\ntenant = contoso.com\n"
             "login = r@contoso.com\nclient_certificate_file = %s/app.pem\nclient_key_file = %s\n"
             "client_key_passphrase_file = %s\n",
             dir, key, pass);
    cfg = load(text);
    ok(cfg != NULL, "a certificate account loads (%s)", err);
    if (cfg == NULL)
        return;
    chmod(key, 0640);
    ok(config_secret_file_read(&cfg->accounts[0], "client_key_file", key, CONFIG_KEY_MAX, 0, &out,
                               err, sizeof(err)) < 0 &&
           strstr(err, "client_key_file") && strstr(err, key) && strstr(err, "chmod 600"),
       "a group-readable key file is refused, naming setting, file and fix: %s", err);
    chmod(key, 0600);
    ok(config_secret_file_read(&cfg->accounts[0], "client_key_file", key, CONFIG_KEY_MAX, 0, &out,
                               err, sizeof(err)) == 0 &&
           out != NULL && strstr(out, "\nAAAA\n") != NULL,
       "a 0600 key file is read whole, lines and all");
    secret_free(out);
    chmod(pass, 0604);
    ok(config_secret_file_read(&cfg->accounts[0], "client_key_passphrase_file", pass, 100, 1, &out,
                               err, sizeof(err)) < 0 &&
           strstr(err, "chmod 600") != NULL,
       "a world-readable passphrase file is refused: %s", err);
    chmod(pass, 0600);
    ok(config_secret_file_read(&cfg->accounts[0], "client_key_passphrase_file", pass, 100, 1, &out,
                               err, sizeof(err)) == 0 &&
           streq(out, "correct horse"),
       "a 0600 passphrase file is read, newline trimmed, inner space kept");
    secret_free(out);
    ok(config_secret_file_read(&cfg->accounts[0], "client_key_file", key, 10, 0, &out, err,
                               sizeof(err)) < 0 &&
           strstr(err, "longer than 10 bytes") != NULL,
       "an oversized file is refused: %s", err);
    config_free(cfg);
    unlink(key);
    unlink(pass);
}

static int reports;

/* quiet - a report callback that counts */
static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
    reports++;
}

static void test_check_files(void)
{
    char key[4200];
    char text[9000];
    struct config *cfg;
    FILE *fp;

    snprintf(key, sizeof(key), "%s/k2.key", dir);
    fp = fopen(key, "w");
    fputs("-----BEGIN PRIVATE KEY-----\n", fp);
    fclose(fp);
    chmod(key, 0644);
    snprintf(text, sizeof(text),
             "state_dir = %s/state\n[account a]\nclient_id = "
             "00000000-0000-4000-8000-000000000001\ngrant = client_credentials\n"
             "tenant = contoso.com\nlogin = r@contoso.com\nclient_certificate_file = %s/none.pem\n"
             "client_key_file = %s\n",
             dir, dir, key);
    cfg = load(text);
    reports = 0;
    ok(cfg != NULL && config_check_files(cfg, quiet, NULL) == 2 && reports == 2,
       "config-check reports the lax key file and the missing certificate (%d)", reports);
    config_free(cfg);
    unlink(key);
}

int main(void)
{
    if (cfgload_setup() < 0)
        return 1;
    test_clouds();
    test_google_custom();
    test_rules();
    test_key_files();
    test_check_files();
    cfgload_cleanup();
    return done_testing();
}
