/*
 * test_authorize.c - the pieces of the authorize flows: PKCE S256, reading
 * a redirect back, device authorization replies, the loopback listener
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "authorize.h"
#include "clock.h"
#include "loopback.h"
#include "tap.h"
#include "tokenresp.h"

static struct authz_reply reply;

/* parse - authz_parse_reply into the static reply */
static int parse(const char *in)
{
    return authz_parse_reply(in, &reply);
}

static void test_pkce(void)
{
    char ch[64];

    /* RFC 7636, appendix B. */
    ok(authz_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", ch, sizeof(ch)) == 0 &&
           strcmp(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") == 0,
       "S256 challenge matches RFC 7636's example");
    ok(authz_pkce_challenge("x", ch, 10) < 0, "a challenge that does not fit is refused");
}

static void test_parse(void)
{
    ok(parse("http://localhost/?code=0.AAA-b_c~d.e&state=xyz&session_state=1") == 0 &&
           strcmp(reply.code, "0.AAA-b_c~d.e") == 0 && strcmp(reply.state, "xyz") == 0 &&
           reply.error[0] == '\0',
       "full redirected URL: code and state");
    ok(parse("/?state=s1&code=c%2B1%2F2%3D") == 0 && strcmp(reply.code, "c+1/2=") == 0 &&
           strcmp(reply.state, "s1") == 0,
       "request target, percent-decoded, any order");
    ok(parse("0.ABCdef-123_x") == 0 && strcmp(reply.code, "0.ABCdef-123_x") == 0 &&
           reply.state[0] == '\0',
       "a bare code");
    ok(parse("http://localhost/?error=access_denied&error_description=AADSTS65004%3A+User+"
             "declined&state=s") == 0 &&
           strcmp(reply.error, "access_denied") == 0 &&
           strcmp(reply.desc, "AADSTS65004: User declined") == 0 && reply.code[0] == '\0',
       "an error redirect: error and description");
    ok(parse("code=abc&state=s#frag=1") == 0 && strcmp(reply.code, "abc") == 0,
       "a bare query string, fragment ignored");
    ok(parse("/?code=a&code=b&state=s") == -1 && reply.code[0] == '\0',
       "a repeated code is refused");
    ok(parse("/?code=a%2&state=s") == -1, "a broken escape is refused");
    ok(parse("/?code=a%20b&state=s") == -1, "a code with a space is refused");
    ok(parse("/?code=a%00b&state=s") == -1, "a code with a NUL is refused");
    ok(parse("two words") == -1, "a bare code with a space is refused");
    {
        char big[AUTHZ_MAX_CODE + 32];

        memset(big, 'A', sizeof(big));
        memcpy(big, "/?code=", 7);
        big[sizeof(big) - 1] = '\0';
        ok(parse(big) == -1, "an oversized code is refused");
    }
    ok(parse("/?foo=bar") == 0 && reply.code[0] == '\0' && reply.error[0] == '\0' &&
           reply.aadsts == 0,
       "unrelated parameters yield nothing");
    ok(parse("/?error=invalid_client&error_description=AADSTS7000218%3A+x&error_uri="
             "https%3A%2F%2Flogin.microsoftonline.com%2Ferror%3Fcode%3D7000218&state=s") == 0 &&
           reply.aadsts == 7000218,
       "Entra's error_uri gives the AADSTS code (for the hint)");
    ok(parse("/?error=x&error_uri=https%3A%2F%2Fexample.org%2F%3Fcode%3D12ab") == 0 &&
           reply.aadsts == 0,
       "an error_uri without a numeric code gives none");
    ok(parse("/?code=abc&state=s") == 0 && (authz_reply_clear(&reply), reply.code[0] == '\0'),
       "authz_reply_clear wipes the code");
}

static void test_device_reply(void)
{
    struct device_auth da;
    struct token_result res;
    const char *good = "{\"device_code\":\"DAQABAAEAAAD--DLA3VO7QrddgJg7WevrQ\",\"user_code\":"
                       "\"FR8QXTRS2\",\"verification_uri\":\"https://microsoft.com/devicelogin\","
                       "\"expires_in\":900,\"interval\":5,\"message\":\"To sign in, ...\"}";
    const char *google = "{\"device_code\":\"4/4-GMMhmHCXhWEzkobqIHGG\",\"user_code\":"
                         "\"GQVQ-JKEC\",\"verification_url\":\"https://www.google.com/device\","
                         "\"expires_in\":1800,\"interval\":500}";
    const char *entra_err =
        "{\"error\":\"unauthorized_client\",\"error_description\":\"AADSTS700016:"
        " Application not found\",\"error_codes\":[700016]}";

    tokenresp_device(200, good, strlen(good), NULL, &da, &res);
    ok(res.verdict == TOKEN_OK && da.device_code != NULL &&
           strcmp(da.user_code, "FR8QXTRS2") == 0 &&
           strcmp(da.verification_uri, "https://microsoft.com/devicelogin") == 0 &&
           da.expires_in == 900 && da.interval == 5,
       "Entra's device authorization reply");
    tokenresp_device_clear(&da);
    ok(da.device_code == NULL, "the device code is wiped and freed");
    tokenresp_device(200, google, strlen(google), NULL, &da, &res);
    ok(res.verdict == TOKEN_OK &&
           strcmp(da.verification_uri, "https://www.google.com/device") == 0 && da.interval == 60,
       "Google's verification_url; an absurd interval is capped at 60 s");
    tokenresp_device_clear(&da);
    tokenresp_device(400, entra_err, strlen(entra_err), NULL, &da, &res);
    ok(res.verdict == TOKEN_PERMANENT && res.aadsts == 700016 && da.device_code == NULL &&
           strstr(res.message, "check client_id and tenant") != NULL,
       "an error reply carries the AADSTS hint: %s", res.message);
    {
        const char *plain = "{\"device_code\":\"x\",\"user_code\":\"U\",\"verification_uri\":"
                            "\"http://evil/\",\"expires_in\":900}";

        tokenresp_device(200, plain, strlen(plain), NULL, &da, &res);
    }
    ok(res.verdict != TOKEN_OK && da.device_code == NULL,
       "a plain-http verification URL is refused");
    tokenresp_device(200, "{\"user_code\":\"U\"}", 16, NULL, &da, &res);
    ok(res.verdict != TOKEN_OK, "a reply without device_code is refused");
    tokenresp_device(0, NULL, 0, "Connection refused", &da, &res);
    ok(res.verdict == TOKEN_TRANSIENT && strstr(res.message, "Connection refused") != NULL,
       "no reply: temporary");
}

/* client - connect to 127.0.0.1:port, send text, read the status line into out */
static void client(unsigned port, const char *text, char *out, size_t outsize)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out[0] = '\0';
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return;
    }
    if (text != NULL && send(fd, text, strlen(text), MSG_NOSIGNAL) < 0) {
        close(fd);
        return;
    }
    n = recv(fd, out, outsize - 1, MSG_WAITALL);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
}

/* have_ipv6_loopback - whether anyone can listen on [::1] here */
static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 sin6;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int ok6;

    if (fd < 0)
        return 0;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    ok6 = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    close(fd);
    return ok6;
}

static void test_loopback(void)
{
    char err[256];
    char target[LOOPBACK_MAX_REQUEST];
    struct loopback lb;
    int lrc = loopback_listen(0, &lb, err, sizeof(err));
    unsigned port = lb.port;
    int pipefd[2];
    pid_t pid;
    int cfd;

    ok(lrc == 0 && port > 0, "listens on an ephemeral loopback port (%u)", port);
    ok(lrc == 0 && lb.fd[0] >= 0 && (lb.fd[1] >= 0 || !have_ipv6_loopback()),
       "on 127.0.0.1 and on [::1] (where the host has it)");
    if (lrc < 0 || pipe(pipefd) < 0)
        return;
    pid = fork();
    if (pid == 0) {
        char big[LOOPBACK_MAX_REQUEST + 100];
        char out[512];
        char line[600];
        size_t len;

        loopback_close(&lb);
        memset(big, 'a', sizeof(big));
        memcpy(big, "GET /", 5);
        big[sizeof(big) - 1] = '\0';
        client(port, "POST /?code=x HTTP/1.1\r\nHost: localhost\r\n\r\n", out, sizeof(out));
        len = (size_t)snprintf(line, sizeof(line), "%.12s\n", out);
        client(port, big, out, sizeof(out));
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%.12s\n", out);
        client(port, "GET /?code=abc&state=xyz HTTP/1.1\r\nHost: localhost\r\n\r\n", out,
               sizeof(out));
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%.12s|%s\n", out,
                                strstr(out, "Connection: close") ? "closed" : "kept");
        if (write(pipefd[1], line, len) < 0)
            _exit(1);
        _exit(0);
    }
    close(pipefd[1]);
    cfd = loopback_accept(&lb, clock_mono_ms() + 10000, NULL, target, sizeof(target), err,
                          sizeof(err));
    ok(cfd >= 0 && strcmp(target, "/?code=abc&state=xyz") == 0,
       "a POST and an oversized request are turned away; the GET's target is handed over");
    if (cfd >= 0)
        loopback_respond(cfd, 200, "Signed in", "You may close this window.");
    {
        char seen[600] = "";
        ssize_t n = read(pipefd[0], seen, sizeof(seen) - 1);

        seen[n > 0 ? n : 0] = '\0';
        ok(strstr(seen, "HTTP/1.1 405") != NULL, "POST gets 405");
        ok(strstr(seen, "HTTP/1.1 400") != NULL, "an oversized request gets 400");
        ok(strstr(seen, "HTTP/1.1 200|closed") != NULL, "the redirect gets 200 and the close");
    }
    waitpid(pid, NULL, 0);
    close(pipefd[0]);
    {
        long long t0 = clock_mono_ms();

        cfd = loopback_accept(&lb, t0 + 300, NULL, target, sizeof(target), err, sizeof(err));
        ok(cfd < 0 && strstr(err, "timed out") != NULL && clock_mono_ms() - t0 < 2000,
           "nobody comes: timed out at the deadline (%s)", err);
    }
    {
        volatile sig_atomic_t stop = 1;

        cfd = loopback_accept(&lb, clock_mono_ms() + 10000, &stop, target, sizeof(target), err,
                              sizeof(err));
        ok(cfd < 0 && strcmp(err, "interrupted") == 0, "a signal ends the wait");
    }
    {
        struct loopback again;
        int busy = loopback_listen(port, &again, err, sizeof(err));

        ok(busy < 0 && strstr(err, "choose another --port") != NULL,
           "a port in use is named with the fix: %s", err);
        if (busy >= 0)
            loopback_close(&again);
    }
    loopback_close(&lb);
    {
        /* Another user holds [::1] on the port: refused, not half-bound. */
        struct loopback half;
        unsigned p6;
        int busy;
        int six = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 sin6;
        socklen_t slen = sizeof(sin6);
        int one = 1;

        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = in6addr_loopback;
        setsockopt(six, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (six >= 0 && bind(six, (struct sockaddr *)&sin6, sizeof(sin6)) == 0 &&
            listen(six, 1) == 0 && getsockname(six, (struct sockaddr *)&sin6, &slen) == 0) {
            p6 = ntohs(sin6.sin6_port);
            busy = loopback_listen(p6, &half, err, sizeof(err));
            ok(busy < 0 && strstr(err, "[::1]") != NULL,
               "--port whose [::1] side is taken: refused (%s)", err);
            if (busy >= 0)
                loopback_close(&half);
        } else {
            ok(1, "no IPv6 loopback here: nothing to hold");
        }
        if (six >= 0)
            close(six);
    }
}

int main(void)
{
    test_pkce();
    test_parse();
    test_device_reply();
    test_loopback();
    return done_testing();
}
