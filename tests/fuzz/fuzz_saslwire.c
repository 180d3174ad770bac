/*
 * fuzz_saslwire.c - libFuzzer target: the daemon's "account" reply as the
 * plugin and CLI decode it (protocol_decode_account), the XOAUTH2 and
 * OAUTHBEARER builders fed with what it decoded, and the one base64 path
 * the product decodes itself: the SMTP error challenge and reply hints of
 * "oauth2-token-helper test" (smtptest_challenge, explain_smtp)
 *
 * Checks: a decoded reply builds both initial responses; each holds the
 * token once, after "auth=Bearer ", with the \1 framing intact (no field
 * can inject a separator); the challenge text is cleaned and bounded.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "saslwire.h"
#include "explain.h"
#include "smtptest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESPONSE_MAX (SASLWIRE_MAX_TOKEN + SASLWIRE_MAX_LOGIN + 512)

/* count_char - occurrences of c in s[0..n) */
static size_t count_char(const char *s, size_t n, char c)
{
    size_t i;
    size_t k = 0;

    for (i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

/* check_builders - build both responses from a decoded login and token */
static void check_builders(const char *login, const char *token)
{
    static char out[RESPONSE_MAX];
    size_t len;
    char *at;

    if (saslwire_xoauth2(login, token, out, sizeof(out), &len) < 0)
        abort();
    if (len < 2 || out[len - 1] != '\001' || out[len - 2] != '\001' ||
        count_char(out, len, '\001') != 3)
        abort();
    at = strstr(out, "auth=Bearer ");
    if (at == NULL || strncmp(at + 12, token, strlen(token)) != 0)
        abort();
    if (saslwire_oauthbearer(login, "smtp.example.net", 587, token, out, sizeof(out), &len) < 0)
        abort();
    if (strncmp(out, "n,a=", 4) != 0 || count_char(out, len, '\001') != 5 ||
        count_char(out, len, ',') != 2)
        abort();
}

/* LLVMFuzzerTestOneInput - one reply, one SMTP line */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char login[SASLWIRE_MAX_LOGIN + 1];
    static char token[SASLWIRE_MAX_TOKEN + 1];
    char line[300];
    char text[200];
    long long expires;
    size_t n;

    if (protocol_decode_account((const char *)data, size, login, sizeof(login), token,
                                sizeof(token), &expires) == 0) {
        if (!saslwire_login_ok(login, strlen(login)) || !saslwire_token_ok(token, strlen(token)) ||
            expires < 0)
            abort();
        check_builders(login, token);
    } else if (login[0] != '\0' && token[0] != '\0' && expires != 0) {
        /* A failed parse may leave a login, never all three. */
        abort();
    }
    (void)saslwire_token_ok((const char *)data, size);
    (void)saslwire_login_ok((const char *)data, size);

    /* An SMTP server's last reply line, as smtptest keeps it. */
    n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    if (smtptest_challenge(line, text, sizeof(text))) {
        size_t i;

        for (i = 0; text[i] != '\0'; i++)
            if ((unsigned char)text[i] < ' ' || (unsigned char)text[i] >= 0x7f)
                abort();
    }
    (void)explain_smtp(line);
    return 0;
}
