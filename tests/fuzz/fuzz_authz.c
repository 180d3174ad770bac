/*
 * fuzz_authz.c - libFuzzer target: what comes back from the browser after
 * an authorization, as the loopback listener or a pasted URL hands it over
 * (authz_parse_reply), and the PKCE challenge (authz_pkce_challenge)
 *
 * Checks, besides memory safety: on success every field is terminated
 * inside its buffer, code, state, error are opaque (printable, no
 * spaces), a repeated parameter never succeeds; on failure the reply is
 * all zeroes (nothing half-parsed, no code left behind); a challenge is 43
 * base64url characters.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authorize.h"
#include "tokenresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* all_zero - the reply holds nothing */
static int all_zero(const struct authz_reply *r)
{
    const unsigned char *p = (const unsigned char *)r;
    size_t i;

    for (i = 0; i < sizeof(*r); i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* LLVMFuzzerTestOneInput - one redirect */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct authz_reply r;
    char challenge[64];
    char *in;
    size_t i;

    if (size > 16384)
        return 0;
    in = malloc(size + 1);
    memcpy(in, data, size);
    in[size] = '\0';
    memset(&r, 0x5a, sizeof(r));
    if (authz_parse_reply(in, &r) == 0) {
        if (memchr(r.code, '\0', sizeof(r.code)) == NULL ||
            memchr(r.state, '\0', sizeof(r.state)) == NULL ||
            memchr(r.error, '\0', sizeof(r.error)) == NULL ||
            memchr(r.desc, '\0', sizeof(r.desc)) == NULL)
            abort();
        if ((r.code[0] && !tokenresp_opaque_ok(r.code, sizeof(r.code) - 1)) ||
            (r.state[0] && !tokenresp_opaque_ok(r.state, sizeof(r.state) - 1)) ||
            (r.error[0] && !tokenresp_opaque_ok(r.error, sizeof(r.error) - 1)) || r.aadsts < 0)
            abort();
    } else if (!all_zero(&r)) {
        abort();
    }
    authz_reply_clear(&r);
    if (authz_pkce_challenge(in, challenge, sizeof(challenge)) == 0) {
        if (strlen(challenge) != 43)
            abort();
        for (i = 0; i < 43; i++)
            if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                       challenge[i]) == NULL)
                abort();
    }
    free(in);
    return 0;
}
