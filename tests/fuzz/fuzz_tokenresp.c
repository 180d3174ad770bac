/*
 * fuzz_tokenresp.c - libFuzzer target: token-endpoint replies (tokenresp_parse)
 *                    and device authorization replies (tokenresp_device)
 *
 * Input: one byte picks the HTTP status (the statuses the daemon meets,
 * or a raw 100-355), one byte the Retry-After seconds, the rest is the
 * body. Besides memory safety it checks what the daemon relies on: a
 * verdict in range; an OK result holds a bearer token, a sane lifetime
 * and a refresh token free of spaces and controls; no message ever holds
 * a token the reply carried. A device reply that is OK has an opaque
 * device code, an https verification URI, a lifetime and a polling
 * interval of 1 to 60 s.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "saslwire.h"
#include "tokenresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = {0, 200, 200, 200, 400, 401, 403, 429, 500, 502, 503, 504};

/* contains - whether hay holds needle (both NUL-terminated), for needles worth looking for */
static int contains(const char *hay, const char *needle)
{
    return needle != NULL && strlen(needle) >= 8 && strstr(hay, needle) != NULL;
}

/* check_device - the same bytes as a device authorization reply */
static void check_device(long status, const char *body, size_t len)
{
    struct device_auth da;
    struct token_result res;

    memset(&da, 0, sizeof(da));
    tokenresp_device(status, body, len, status == 0 ? "fuzzed" : NULL, &da, &res);
    if (res.verdict == TOKEN_OK) {
        if (da.device_code == NULL || !tokenresp_opaque_ok(da.device_code, SASLWIRE_MAX_TOKEN))
            abort();
        if (memchr(da.user_code, '\0', sizeof(da.user_code)) == NULL ||
            memchr(da.verification_uri, '\0', sizeof(da.verification_uri)) == NULL ||
            strncmp(da.verification_uri, "https://", 8) != 0)
            abort();
        if (da.expires_in <= 0 || da.interval < 1 || da.interval > 60)
            abort();
        if (contains(res.message, da.device_code))
            abort();
    } else if (da.device_code != NULL) {
        abort();
    }
    tokenresp_device_clear(&da);
    token_result_clear(&res);
}

/* LLVMFuzzerTestOneInput - one reply */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct token_result res;
    long status;
    long retry_after;
    size_t i;

    if (size < 2)
        return 0;
    if (data[0] < 2 * sizeof(statuses) / sizeof(statuses[0]))
        status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    else
        status = 100 + data[0];
    retry_after = data[1];
    tokenresp_parse(status, (const char *)data + 2, size - 2, status == 0 ? "fuzzed" : NULL,
                    retry_after, &res);
    if (res.verdict != TOKEN_OK && res.verdict != TOKEN_TRANSIENT && res.verdict != TOKEN_PERMANENT)
        abort();
    if (memchr(res.message, '\0', sizeof(res.message)) == NULL ||
        memchr(res.error, '\0', sizeof(res.error)) == NULL)
        abort();
    if (res.verdict == TOKEN_OK) {
        if (res.access_token == NULL ||
            !saslwire_token_ok(res.access_token, strlen(res.access_token)))
            abort();
        if (res.expires_in <= 0 || res.expires_in > 7 * 86400L)
            abort();
        if (res.refresh_token != NULL)
            for (i = 0; res.refresh_token[i] != '\0'; i++)
                if ((unsigned char)res.refresh_token[i] <= ' ' ||
                    (unsigned char)res.refresh_token[i] >= 0x7f)
                    abort();
        if (contains(res.message, res.access_token) || contains(res.message, res.refresh_token))
            abort();
    } else if (res.access_token != NULL || res.refresh_token != NULL) {
        abort();
    }
    /* Error messages are built from untrusted text: printable ASCII only. */
    for (i = 0; res.message[i] != '\0'; i++)
        if ((unsigned char)res.message[i] < ' ' || (unsigned char)res.message[i] >= 0x7f)
            abort();
    token_result_clear(&res);
    check_device(status, (const char *)data + 2, size - 2);
    return 0;
}
