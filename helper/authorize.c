/*
 * authorize.c - device-code, browser and paste authorization (see authorize.h)
 *
 * Diagnostics: instructions (URLs, the user code) go to standard output,
 * progress and errors to standard error. Error texts from the identity
 * platform are cut short and cleaned before they are shown.
 */
#include "autoconfig.h"

#include "authorize.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "b64.h"
#include "clientauth.h"
#include "explain.h"
#include "http.h"
#include "log.h"
#include "loopback.h"
#include "secret.h"
#include "state.h"

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define SLOW_DOWN_S 5
#define PROGRESS_EVERY_S 60
#define STATE_BYTES 16
#define VERIFIER_BYTES 32 /* 43 base64url characters, RFC 7636's minimum */

volatile sig_atomic_t authz_interrupted;

/* on_signal - note that the admin wants out */
static void on_signal(int sig)
{
    (void)sig;
    authz_interrupted = 1;
}

/* authz_catch_signals - interrupt, don't restart */
void authz_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking reads and polls return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* authz_default_flow - device without a display, else browser */
authz_flow authz_default_flow(void)
{
    const char *x = getenv("DISPLAY");
    const char *w = getenv("WAYLAND_DISPLAY");

    return ((x != NULL && x[0] != '\0') || (w != NULL && w[0] != '\0')) ? AUTHZ_BROWSER
                                                                        : AUTHZ_DEVICE;
}

/* authz_read_line - one line of standard input, echo off on a terminal */
char *authz_read_line(const char *prompt, size_t max)
{
    size_t cap = max + 2;
    char *buf = malloc(cap);
    struct termios old;
    struct termios quiet;
    int tty = isatty(STDIN_FILENO);
    size_t len;
    size_t start = 0;
    int got;

    if (buf == NULL)
        return NULL;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    got = fgets(buf, (int)cap, stdin) != NULL;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!got) {
        explicit_bzero(buf, cap);
        free(buf);
        return NULL;
    }
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        buf[--len] = '\0';
    while (buf[start] == ' ' || buf[start] == '\t')
        start++;
    memmove(buf, buf + start, len - start + 1);
    return buf;
}

/* random_b64url - nbytes from RAND_bytes, base64url; malloc'd */
static char *random_b64url(size_t nbytes)
{
    unsigned char b[64];
    char *out;

    if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
        return NULL;
    out = b64_url(b, nbytes);
    explicit_bzero(b, sizeof(b));
    return out;
}

/* authz_pkce_challenge - S256 */
int authz_pkce_challenge(const char *verifier, char *out, size_t outsize)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *b64;
    int rc = -1;

    if (EVP_Digest(verifier, strlen(verifier), md, &mdlen, EVP_sha256(), NULL) != 1)
        return -1;
    b64 = b64_url(md, mdlen);
    if (b64 != NULL && strlen(b64) < outsize) {
        snprintf(out, outsize, "%s", b64);
        rc = 0;
    }
    free(b64);
    return rc;
}

/* has_word - whether a space-separated list holds word */
static int has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list;

    p = strstr(p, word);
    while (p != NULL) {
        if ((p == list || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' '))
            return 1;
        p = strstr(p + wl, word);
    }
    return 0;
}

/* authz_scope - the account's scope, asking for a refresh token where a scope does that */
char *authz_scope(const struct account_conf *acct)
{
    size_t len = strlen(acct->scope) + sizeof(" offline_access");
    char *out;

    if (acct->offline != OFFLINE_SCOPE || has_word(acct->scope, "offline_access"))
        return strdup(acct->scope);
    out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s offline_access", acct->scope);
    return out;
}

/* authz_url - the authorization URL */
char *authz_url(const struct account_conf *acct, const char *redirect_uri, const char *state,
                const char *challenge)
{
    struct http_param p[12];
    char *scope = authz_scope(acct);
    char *query = NULL;
    char *out = NULL;
    size_t qlen = 0;
    size_t len;
    size_t n = 0;

    if (scope == NULL)
        return NULL;
    p[n++] = (struct http_param){"client_id", acct->client_id};
    p[n++] = (struct http_param){"response_type", "code"};
    p[n++] = (struct http_param){"redirect_uri", redirect_uri};
    p[n++] = (struct http_param){"scope", scope};
    p[n++] = (struct http_param){"state", state};
    p[n++] = (struct http_param){"code_challenge", challenge};
    p[n++] = (struct http_param){"code_challenge_method", "S256"};
    if (acct->microsoft)
        p[n++] = (struct http_param){"response_mode", "query"};
    if (strchr(acct->login, '@') != NULL)
        p[n++] = (struct http_param){"login_hint", acct->login};
    if (acct->offline == OFFLINE_ACCESS_TYPE) {
        p[n++] = (struct http_param){"access_type", "offline"};
        p[n++] = (struct http_param){"prompt", "consent"};
    }
    query = http_form_encode(p, n, &qlen);
    len = strlen(acct->authorize_url) + 1 + qlen + 1;
    out = query != NULL ? malloc(len) : NULL;
    if (out != NULL)
        snprintf(out, len, "%s%c%s", acct->authorize_url,
                 strchr(acct->authorize_url, '?') != NULL ? '&' : '?', query);
    free(query);
    free(scope);
    return out;
}

/* hexval - a hex digit's value, or -1 */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* url_unescape - percent- and plus-decode in[0..len) into out; -1 when malformed or too long */
static int url_unescape(const char *in, size_t len, char *out, size_t outsize)
{
    size_t i;
    size_t o = 0;

    for (i = 0; i < len; i++) {
        int c = (unsigned char)in[i];

        if (c == '%') {
            int hi;
            int lo;

            if (i + 2 >= len)
                return -1;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= outsize)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* aadsts_of_uri - the code=N of Entra's error_uri, 0 when there is none */
static long aadsts_of_uri(const char *uri)
{
    const char *p = strstr(uri, "?code=");
    char *end;
    long v;

    if (p == NULL)
        p = strstr(uri, "&code=");
    if (p == NULL)
        return 0;
    p += 6;
    v = strtol(p, &end, 10);
    if (end == p || (*end != '\0' && *end != '&') || v <= 0 || v > 99999999)
        return 0;
    return v;
}

/* authz_reply_clear - wipe */
void authz_reply_clear(struct authz_reply *r)
{
    explicit_bzero(r, sizeof(*r));
}

/* authz_parse_reply - code, state, error from a redirect or a bare code */
int authz_parse_reply(const char *in, struct authz_reply *r)
{
    char uri[256] = "";
    struct {
        const char *key;
        char *dst;
        size_t size;
        int opaque; /* must be printable without spaces */
        int seen;
    } f[] = {{"code", r->code, sizeof(r->code), 1, 0},
             {"state", r->state, sizeof(r->state), 1, 0},
             {"error", r->error, sizeof(r->error), 1, 0},
             {"error_description", r->desc, sizeof(r->desc), 0, 0},
             {"error_uri", uri, sizeof(uri), 1, 0}};
    const char *q = strchr(in, '?');
    size_t qlen;

    memset(r, 0, sizeof(*r));
    if (q == NULL && strchr(in, '=') == NULL) {
        /* Just the code. */
        if (!tokenresp_opaque_ok(in, sizeof(r->code) - 1))
            return -1;
        snprintf(r->code, sizeof(r->code), "%s", in);
        return 0;
    }
    q = q != NULL ? q + 1 : in;
    qlen = strcspn(q, "#");
    while (qlen > 0) {
        size_t plen = strcspn(q, "&");
        const char *eq;
        size_t klen;
        size_t k;

        if (plen > qlen)
            plen = qlen;
        eq = memchr(q, '=', plen);
        klen = eq != NULL ? (size_t)(eq - q) : plen;
        for (k = 0; eq != NULL && k < sizeof(f) / sizeof(f[0]); k++) {
            if (strlen(f[k].key) != klen || strncmp(q, f[k].key, klen) != 0)
                continue;
            /* A repeated parameter is an attempt to confuse: refuse it. */
            if (f[k].seen++ || url_unescape(eq + 1, plen - klen - 1, f[k].dst, f[k].size) < 0 ||
                (f[k].opaque && !tokenresp_opaque_ok(f[k].dst, f[k].size - 1)))
                goto bad;
        }
        q += plen;
        qlen -= plen;
        if (qlen > 0) {
            q++;
            qlen--;
        }
    }
    r->aadsts = aadsts_of_uri(uri);
    return 0;
bad:
    authz_reply_clear(r);
    return -1;
}

/* pause_s - sleep, unless interrupted; -1 when interrupted */
static int pause_s(long seconds)
{
    long long until = clock_mono_ms() + seconds * 1000;

    while (!authz_interrupted) {
        long long left = until - clock_mono_ms();

        if (left <= 0)
            return 0;
        poll(NULL, 0, left > 1000 ? 1000 : (int)left);
    }
    return -1;
}

/* perform - run a request synchronously, stoppable by a signal */
static CURLcode perform(struct http_request *req)
{
    http_request_abort_on(req, &authz_interrupted);
    return http_request_perform(req);
}

/* no_refresh_token - the plain explanation of a grant without a refresh token */
static void no_refresh_token(const struct account_conf *acct, char *err, size_t errsize)
{
    if (acct->offline == OFFLINE_ACCESS_TYPE)
        snprintf(err, errsize,
                 "account %s: the sign-in worked but no refresh token came back. Google sends "
                 "one only at the first consent: remove this app's access in the Google "
                 "account (Security > Third-party access) and authorize again",
                 acct->name);
    else
        snprintf(err, errsize,
                 "account %s: the sign-in worked but no refresh token came back, although "
                 "offline_access was requested: add the delegated permission offline_access "
                 "(with SMTP.Send) to the app registration, grant consent, and authorize again",
                 acct->name);
}

/* finish - the verdict on a token reply that ends a flow */
static authz_result finish(const struct account_conf *acct, struct token_result *res, char *err,
                           size_t errsize)
{
    if (authz_interrupted) {
        token_result_clear(res);
        snprintf(err, errsize, "interrupted");
        return AUTHZ_INTERRUPTED;
    }
    if (res->verdict == TOKEN_OK && res->refresh_token != NULL)
        return AUTHZ_OK;
    if (res->verdict == TOKEN_OK) {
        token_result_clear(res);
        no_refresh_token(acct, err, errsize);
        return AUTHZ_REFUSED;
    }
    snprintf(err, errsize, "account %s: %s", acct->name, res->message);
    return res->verdict == TOKEN_TRANSIENT ? AUTHZ_TEMPORARY : AUTHZ_REFUSED;
}

/* token_request - one request to the token endpoint with the account's credential */
static authz_result token_request(const struct account_conf *acct, const char *grant,
                                  const struct http_param *params, size_t n,
                                  struct token_result *res, char *err, size_t errsize)
{
    struct http_request *req;
    struct clientauth ca;
    char why[512];

    memset(res, 0, sizeof(*res));
    if (clientauth_load(acct, &ca, why, sizeof(why)) < 0) {
        snprintf(err, errsize, "%s", why);
        return AUTHZ_CONFIG;
    }
    req = http_request_token(acct, grant, params, n, &ca);
    clientauth_clear(&ca);
    if (req == NULL) {
        snprintf(err, errsize, "out of memory");
        return AUTHZ_TEMPORARY;
    }
    http_request_result(req, perform(req), res);
    http_request_free(req);
    return AUTHZ_OK;
}

/* redeem - trade an authorization code for tokens */
static authz_result redeem(const struct account_conf *acct, const char *code,
                           const char *redirect_uri, const char *verifier, struct token_result *res,
                           char *err, size_t errsize)
{
    struct http_param p[4];
    char *scope = authz_scope(acct);
    size_t n = 0;
    authz_result r;

    if (scope == NULL) {
        snprintf(err, errsize, "out of memory");
        return AUTHZ_TEMPORARY;
    }
    p[n++] = (struct http_param){"code", code};
    p[n++] = (struct http_param){"redirect_uri", redirect_uri};
    p[n++] = (struct http_param){"code_verifier", verifier};
    if (acct->offline == OFFLINE_SCOPE)
        p[n++] = (struct http_param){"scope", scope};
    r = token_request(acct, "authorization_code", p, n, res, err, errsize);
    free(scope);
    if (r != AUTHZ_OK)
        return r;
    return finish(acct, res, err, errsize);
}

/* progress - a "still waiting" line: rewritten in place on a terminal, once a minute otherwise */
static void progress(long long deadline_ms, long long *last_shown)
{
    long long left = (deadline_ms - clock_mono_ms()) / 1000;
    long long now = clock_mono_ms() / 1000;

    if (left < 0)
        left = 0;
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\rwaiting for the sign-in: %lld:%02lld left ", left / 60, left % 60);
    } else if (*last_shown == 0 || now - *last_shown >= PROGRESS_EVERY_S) {
        fprintf(stderr, "waiting for the sign-in (%lld:%02lld left)\n", left / 60, left % 60);
        *last_shown = now;
    }
    fflush(stderr);
}

/* end_progress - finish a progress line on a terminal */
static void end_progress(void)
{
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\n");
}

/* device_start - ask for a device code and show it */
static authz_result device_start(const struct account_conf *acct, struct device_auth *da, char *err,
                                 size_t errsize)
{
    struct token_result res;
    struct http_param p[2];
    struct http_request *req;
    char *scope = authz_scope(acct);

    memset(da, 0, sizeof(*da));
    if (scope == NULL) {
        snprintf(err, errsize, "out of memory");
        return AUTHZ_TEMPORARY;
    }
    p[0] = (struct http_param){"client_id", acct->client_id};
    p[1] = (struct http_param){"scope", scope};
    req = http_request_new(acct, acct->device_url, p, 2);
    free(scope);
    if (req == NULL) {
        snprintf(err, errsize, "out of memory");
        return AUTHZ_TEMPORARY;
    }
    http_request_device_result(req, perform(req), da, &res);
    http_request_free(req);
    if (authz_interrupted) {
        tokenresp_device_clear(da);
        snprintf(err, errsize, "interrupted");
        return AUTHZ_INTERRUPTED;
    }
    if (res.verdict != TOKEN_OK) {
        snprintf(err, errsize, "account %s: the device-code request failed: %s", acct->name,
                 res.message);
        return res.verdict == TOKEN_TRANSIENT ? AUTHZ_TEMPORARY : AUTHZ_REFUSED;
    }
    printf("To authorize account %s, open\n\n    %s\n\nin any browser, enter the code\n\n    %s\n\n"
           "and sign in as %s. The code expires in %ld minutes.\n",
           acct->name, da->verification_uri, da->user_code, acct->login,
           (da->expires_in + 59) / 60);
    fflush(stdout);
    return AUTHZ_OK;
}

/* device_verdict - what a polling reply means: 1 keep polling, 0 done (r set) */
static int device_verdict(const struct account_conf *acct, struct token_result *res, long *interval,
                          authz_result *r, char *err, size_t errsize)
{
    if (res->verdict == TOKEN_OK || authz_interrupted) {
        *r = finish(acct, res, err, errsize);
        return 0;
    }
    if (strcmp(res->error, "authorization_pending") == 0)
        return 1;
    if (strcmp(res->error, "slow_down") == 0) {
        *interval += SLOW_DOWN_S;
        fprintf(stderr, "the identity platform asks to poll more slowly: every %lds now\n",
                *interval);
        return 1;
    }
    if (res->verdict == TOKEN_TRANSIENT) {
        fprintf(stderr, "warning: %s; still polling\n", res->message);
        return 1;
    }
    *r = AUTHZ_REFUSED;
    if (strcmp(res->error, "authorization_declined") == 0 ||
        strcmp(res->error, "access_denied") == 0)
        snprintf(err, errsize,
                 "account %s: the sign-in was declined on the verification page; nothing "
                 "stored",
                 acct->name);
    else if (strcmp(res->error, "expired_token") == 0 || strcmp(res->error, "code_expired") == 0)
        snprintf(err, errsize,
                 "account %s: the code expired before the sign-in finished; nothing stored. "
                 "Run authorize again",
                 acct->name);
    else if (strcmp(res->error, "bad_verification_code") == 0)
        snprintf(err, errsize,
                 "account %s: the identity platform does not know this device code; run "
                 "authorize again",
                 acct->name);
    else
        *r = finish(acct, res, err, errsize);
    return 0;
}

/* device_flow - RFC 8628 */
static authz_result device_flow(const struct account_conf *acct, struct token_result *res,
                                char *err, size_t errsize)
{
    struct device_auth da;
    struct http_param p[1];
    long long deadline;
    long long shown = 0;
    long interval;
    authz_result r;

    if (acct->device_url == NULL) {
        snprintf(err, errsize,
                 "account %s: no device-code endpoint is known for provider %s: set "
                 "device_endpoint, or use --browser or --paste",
                 acct->name, acct->provider);
        return AUTHZ_CONFIG;
    }
    r = device_start(acct, &da, err, errsize);
    if (r != AUTHZ_OK)
        return r;
    deadline = clock_mono_ms() + da.expires_in * 1000;
    interval = da.interval;
    p[0] = (struct http_param){"device_code", da.device_code};
    for (;;) {
        progress(deadline, &shown);
        if (pause_s(interval) < 0) {
            snprintf(err, errsize, "interrupted");
            r = AUTHZ_INTERRUPTED;
            break;
        }
        if (clock_mono_ms() >= deadline) {
            snprintf(err, errsize,
                     "account %s: the code expired before the sign-in finished; nothing "
                     "stored. Run authorize again",
                     acct->name);
            r = AUTHZ_REFUSED;
            break;
        }
        r = token_request(acct, DEVICE_GRANT, p, 1, res, err, errsize);
        if (r != AUTHZ_OK)
            break;
        if (!device_verdict(acct, res, &interval, &r, err, errsize))
            break;
    }
    end_progress();
    tokenresp_device_clear(&da);
    return r;
}

/* open_in_browser - xdg-open, detached, output discarded; only with a display */
static void open_in_browser(const char *url)
{
    pid_t pid;

    if (authz_default_flow() != AUTHZ_BROWSER)
        return;
    pid = fork();
    if (pid == 0) {
        /* The grandchild runs xdg-open; the child exits at once so nothing is left to reap. */
        if (fork() == 0) {
            int null = open("/dev/null", O_RDWR);

            if (null >= 0) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
            }
            setsid();
            execlp("xdg-open", "xdg-open", url, (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* state_matches - constant-time comparison of the returned state */
static int state_matches(const char *got, const char *want)
{
    return strlen(got) == strlen(want) && CRYPTO_memcmp(got, want, strlen(want)) == 0;
}

/* platform_error - the message for an error sent back on the redirect, with the hint */
static void platform_error(const struct account_conf *acct, const struct authz_reply *r, char *err,
                           size_t errsize)
{
    const struct explain *hint = explain_aadsts(r->aadsts);
    char clean_error[64];
    char clean_desc[200];

    log_clean(clean_error, sizeof(clean_error), r->error, strlen(r->error));
    log_clean(clean_desc, sizeof(clean_desc), r->desc, strcspn(r->desc, "\r\n"));
    snprintf(err, errsize, "account %s: the identity platform refused the sign-in: %s%s%s%s%s",
             acct->name, clean_error, clean_desc[0] ? ": " : "", clean_desc,
             hint != NULL ? "; " : "", hint != NULL ? hint->text : "");
}

/* no_authorize_url - the message when the account has no authorization endpoint */
static authz_result no_authorize_url(const struct account_conf *acct, char *err, size_t errsize)
{
    snprintf(err, errsize,
             "account %s: no authorization endpoint is known for provider %s: set "
             "authorize_endpoint, or use --device",
             acct->name, acct->provider);
    return AUTHZ_CONFIG;
}

/* secrets - the PKCE verifier and challenge, and the state */
struct secrets {
    char *verifier;
    char *state;
    char challenge[64];
};

/* secrets_new - fresh random values; -1 on failure */
static int secrets_new(struct secrets *s)
{
    s->verifier = random_b64url(VERIFIER_BYTES);
    s->state = random_b64url(STATE_BYTES);
    if (s->verifier == NULL || s->state == NULL ||
        authz_pkce_challenge(s->verifier, s->challenge, sizeof(s->challenge)) < 0)
        return -1;
    return 0;
}

/* secrets_clear - wipe */
static void secrets_clear(struct secrets *s)
{
    secret_free(s->verifier);
    secret_free(s->state);
    memset(s, 0, sizeof(*s));
}

/*
 * wait_redirect - serve the loopback listener until a redirect with our
 * state arrives. Any local user can connect to it: a redirect without our
 * state (forged, or from an older request) gets an error page and is
 * otherwise ignored, so it can neither end nor steer the sign-in.
 */
static authz_result wait_redirect(const struct account_conf *acct, const struct loopback *lb,
                                  long timeout_s, const char *want_state, struct authz_reply *r,
                                  char *err, size_t errsize)
{
    long long deadline = clock_mono_ms() + timeout_s * 1000;
    char target[LOOPBACK_MAX_REQUEST];
    int ignored = 0;

    for (;;) {
        int cfd =
            loopback_accept(lb, deadline, &authz_interrupted, target, sizeof(target), err, errsize);

        if (cfd < 0) {
            if (authz_interrupted)
                return AUTHZ_INTERRUPTED;
            if (ignored > 0)
                snprintf(err, errsize,
                         "account %s: no redirect for this request arrived within %lds (%d "
                         "that did not carry its state were ignored); nothing stored. Run "
                         "authorize again, and finish the sign-in in the browser it shows",
                         acct->name, timeout_s, ignored);
            else
                snprintf(err, errsize,
                         "account %s: no redirect arrived within %lds; nothing stored. Was the "
                         "sign-in finished in a browser on this machine? (--timeout, or try "
                         "--paste or --device)",
                         acct->name, timeout_s);
            return AUTHZ_REFUSED;
        }
        if (strcmp(target, "/") != 0 && strncmp(target, "/?", 2) != 0) {
            loopback_respond(cfd, 404, "Not found", "Nothing here.");
            continue;
        }
        if (authz_parse_reply(target, r) < 0 || (r->code[0] == '\0' && r->error[0] == '\0')) {
            loopback_respond(cfd, 400, "Bad request",
                             "This address expects the identity platform's redirect.");
            continue;
        }
        explicit_bzero(target, sizeof(target));
        if (!state_matches(r->state, want_state)) {
            loopback_respond(cfd, 400, "Authorization refused",
                             "This reply does not belong to the authorization request that is "
                             "waiting here, and was ignored.");
            authz_reply_clear(r);
            ignored++;
            fprintf(stderr,
                    "account %s: ignored a redirect whose state does not match this request "
                    "(forged, or from an older request); still waiting\n",
                    acct->name);
            continue;
        }
        if (r->error[0] != '\0') {
            loopback_respond(cfd, 400, "Authorization failed",
                             "The identity platform refused the sign-in; the terminal says why.");
            platform_error(acct, r, err, errsize);
            return AUTHZ_REFUSED;
        }
        loopback_respond(cfd, 200, "Signed in",
                         "oauth2-token-helper received the sign-in; the terminal shows the "
                         "result. You may close this window.");
        return AUTHZ_OK;
    }
}

/* browser_flow - authorization code + PKCE with the loopback redirect */
static authz_result browser_flow(const struct account_conf *acct, const struct authz_options *opt,
                                 struct token_result *res, char *err, size_t errsize)
{
    struct secrets s;
    struct authz_reply reply;
    struct loopback lb;
    char redirect[64];
    char *url = NULL;
    authz_result r;

    memset(&s, 0, sizeof(s));
    memset(&reply, 0, sizeof(reply));
    if (acct->authorize_url == NULL)
        return no_authorize_url(acct, err, errsize);
    if (loopback_listen(opt->port, &lb, err, errsize) < 0)
        return AUTHZ_CONFIG;
    snprintf(redirect, sizeof(redirect), "http://localhost:%u", lb.port);
    if (secrets_new(&s) == 0)
        url = authz_url(acct, redirect, s.state, s.challenge);
    if (url == NULL) {
        snprintf(err, errsize, "cannot prepare the request: out of memory or no randomness");
        r = AUTHZ_TEMPORARY;
        goto out;
    }
    printf("To authorize account %s, open this address in a browser on this machine and sign "
           "in as %s:\n\n    %s\n\nWaiting up to %lds for the browser to come back to %s ...\n",
           acct->name, acct->login, url, opt->timeout_s, redirect);
    fflush(stdout);
    if (opt->open_browser)
        open_in_browser(url);
    r = wait_redirect(acct, &lb, opt->timeout_s, s.state, &reply, err, errsize);
    loopback_close(&lb);
    if (r == AUTHZ_OK)
        r = redeem(acct, reply.code, redirect, s.verifier, res, err, errsize);
out:
    loopback_close(&lb);
    authz_reply_clear(&reply);
    secrets_clear(&s);
    free(url);
    return r;
}

/* paste_flow - the same URL; the admin pastes where the browser ended up */
static authz_result paste_flow(const struct account_conf *acct, struct token_result *res, char *err,
                               size_t errsize)
{
    static const char redirect[] = "http://localhost";
    struct secrets s;
    struct authz_reply reply;
    char *url = NULL;
    char *line = NULL;
    authz_result r = AUTHZ_REFUSED;

    memset(&s, 0, sizeof(s));
    memset(&reply, 0, sizeof(reply));
    if (acct->authorize_url == NULL)
        return no_authorize_url(acct, err, errsize);
    if (secrets_new(&s) == 0)
        url = authz_url(acct, redirect, s.state, s.challenge);
    if (url == NULL) {
        snprintf(err, errsize, "cannot prepare the request: out of memory or no randomness");
        r = AUTHZ_TEMPORARY;
        goto out;
    }
    printf("To authorize account %s, open this address in any browser and sign in as %s:\n\n"
           "    %s\n\n"
           "The browser then goes to %s/?code=... and shows an error page, because\n"
           "nothing listens there. Copy the whole address from the address bar (or just the\n"
           "code) and paste it here:\n",
           acct->name, acct->login, url, redirect);
    fflush(stdout);
    line = authz_read_line("address: ", AUTHZ_MAX_CODE + 2048);
    if (authz_interrupted) {
        snprintf(err, errsize, "interrupted");
        r = AUTHZ_INTERRUPTED;
        goto out;
    }
    if (line == NULL || line[0] == '\0') {
        snprintf(err, errsize, "account %s: nothing was pasted; nothing stored", acct->name);
        goto out;
    }
    if (authz_parse_reply(line, &reply) < 0) {
        snprintf(err, errsize,
                 "account %s: that is neither the redirected address nor a code; nothing stored",
                 acct->name);
        goto out;
    }
    if ((strchr(line, '?') != NULL || strchr(line, '=') != NULL) &&
        !state_matches(reply.state, s.state)) {
        snprintf(err, errsize,
                 "account %s: the pasted address does not belong to this authorization request "
                 "(its state differs); nothing stored. Run authorize again",
                 acct->name);
        goto out;
    }
    if (reply.error[0] != '\0') {
        platform_error(acct, &reply, err, errsize);
        goto out;
    }
    if (reply.code[0] == '\0') {
        snprintf(err, errsize, "account %s: the pasted address holds no code; nothing stored",
                 acct->name);
        goto out;
    }
    r = redeem(acct, reply.code, redirect, s.verifier, res, err, errsize);
out:
    authz_reply_clear(&reply);
    secret_free(line);
    secrets_clear(&s);
    free(url);
    return r;
}

/* authz_run - run a flow */
authz_result authz_run(const struct account_conf *acct, const struct authz_options *opt,
                       struct token_result *res, char *err, size_t errsize)
{
    memset(res, 0, sizeof(*res));
    if (acct->grant_type == GRANT_JWT_BEARER) {
        snprintf(err, errsize,
                 "account %s uses grant = jwt_bearer: the service account signs in by itself "
                 "and nobody needs to authorize it. Check it with: oauth2-token-helper token %s",
                 acct->name, acct->name);
        return AUTHZ_CONFIG;
    }
    if (acct->grant_type == GRANT_CLIENT_CREDENTIALS) {
        snprintf(err, errsize,
                 "account %s uses grant = client_credentials: the app signs in by itself and "
                 "nobody needs to authorize it. Check it with: oauth2-token-helper token %s",
                 acct->name, acct->name);
        return AUTHZ_CONFIG;
    }
    switch (opt->flow) {
    case AUTHZ_DEVICE:
        return device_flow(acct, res, err, errsize);
    case AUTHZ_BROWSER:
        return browser_flow(acct, opt, res, err, errsize);
    case AUTHZ_PASTE:
        return paste_flow(acct, res, err, errsize);
    default:
        snprintf(err, errsize, "unknown authorization flow");
        return AUTHZ_CONFIG;
    }
}
