/*
 * test_tokenresp.c - token-endpoint replies: success, rotation, Entra
 * errors with AADSTS codes, transient versus needs-a-person, hostile bodies
 */
#include <string.h>

#include "explain.h"
#include "tap.h"
#include "tokenresp.h"

static void parse(long status, const char *body, long retry_after, struct token_result *res)
{
    tokenresp_parse(status, body, body ? strlen(body) : 0, "Connection refused", retry_after, res);
}

static void test_success(void)
{
    struct token_result r;

    parse(200,
          "{\"token_type\":\"Bearer\",\"scope\":\"https://outlook.office.com/SMTP.Send\","
          "\"expires_in\":4435,\"ext_expires_in\":4435,\"access_token\":\"eyJ0.x-y_z\","
          "\"refresh_token\":\"0.AAAA-rt\"}",
          0, &r);
    ok(r.verdict == TOKEN_OK && strcmp(r.access_token, "eyJ0.x-y_z") == 0 &&
           strcmp(r.refresh_token, "0.AAAA-rt") == 0 && r.expires_in == 4435,
       "Entra success with a rotated refresh token");
    ok(strstr(r.message, "eyJ0") == NULL, "the message does not carry the token");
    token_result_clear(&r);
    ok(r.access_token == NULL && r.refresh_token == NULL, "clear frees both tokens");

    parse(200, "{\"token_type\":\"bearer\",\"expires_in\":\"3599\",\"access_token\":\"ya29.a\"}", 0,
          &r);
    ok(r.verdict == TOKEN_OK && r.expires_in == 3599 && r.refresh_token == NULL,
       "lower-case bearer, expires_in as a string, no rotation (Google style)");
    token_result_clear(&r);
}

static void test_bad_success(void)
{
    struct token_result r;

    parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":3600}", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT && r.access_token == NULL, "missing access_token");
    parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"a b\"}", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "access_token with a space is refused");
    parse(200, "{\"token_type\":\"mac\",\"expires_in\":3600,\"access_token\":\"ab\"}", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "token_type other than Bearer is refused");
    parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":-5,\"access_token\":\"ab\"}", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "negative expires_in is refused");
    parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":99999999999,\"access_token\":\"ab\"}", 0,
          &r);
    ok(r.verdict == TOKEN_TRANSIENT, "absurd expires_in is refused");
    parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":[1],\"access_token\":\"ab\"}", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "expires_in of the wrong type is refused");
    parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":60,\"access_token\":\"ab\"} trailing", 0,
          &r);
    ok(r.verdict == TOKEN_TRANSIENT, "trailing garbage is refused");
    parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":60,\"access_tok", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT && strstr(r.message, "not a JSON object") != NULL,
       "a truncated body is a temporary failure");
    parse(200, "<html>Service Unavailable</html>", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "HTML from a proxy is a temporary failure");
    parse(200, "[1,2,3]", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "a JSON array is refused");
    tokenresp_parse(200, "{\"a\":\"b\0c\"}", 12, NULL, 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "a NUL byte in the body is refused");
}

/* test_embedded_nul - "\u0000" in any string refuses the reply, never cuts a token (issue 9 #11) */
static void test_embedded_nul(void)
{
    struct token_result r;

    parse(
        200,
        "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"eyJ0.good\\u0000evil\"}",
        0, &r);
    ok(r.verdict == TOKEN_TRANSIENT && r.access_token == NULL,
       "an access_token with \\u0000 is refused, not cut at the NUL");
    ok(strstr(r.message, "access_token") != NULL && strstr(r.message, "NUL") != NULL,
       "the message names the member and the NUL: %s", r.message);
    ok(strstr(r.message, "eyJ0") == NULL && strstr(r.message, "evil") == NULL,
       "the message carries no part of the value");
    parse(200,
          "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"eyJ0.ok\","
          "\"refresh_token\":\"0.AAAA\\u0000rest\"}",
          0, &r);
    ok(r.verdict == TOKEN_TRANSIENT && r.access_token == NULL && r.refresh_token == NULL,
       "a refresh_token with \\u0000 is refused, so a prefix is never stored");
    parse(200,
          "{\"token_type\":\"Bearer\\u0000x\",\"expires_in\":3600,\"access_token\":\"eyJ0.ok\"}", 0,
          &r);
    ok(r.verdict == TOKEN_TRANSIENT && r.access_token == NULL,
       "token_type with \\u0000 is refused");
    parse(200,
          "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"eyJ0.ok\","
          "\"extra\":[{\"deep\":[\"a\\u0000b\"]}]}",
          0, &r);
    ok(r.verdict == TOKEN_TRANSIENT && strstr(r.message, "deep") != NULL,
       "a nested string with \\u0000 is found and named");
    parse(400, "{\"error\":\"invalid_grant\\u0000x\",\"error_codes\":[70008]}", 0, &r);
    ok(r.verdict == TOKEN_PERMANENT && strstr(r.message, "NUL") != NULL,
       "an error reply with \\u0000 is refused too");
    parse(200,
          "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"eyJ0.ok\","
          "\"scope\":\"a\\u0001b\"}",
          0, &r);
    ok(r.verdict == TOKEN_OK, "other escapes in members we ignore still pass");
    token_result_clear(&r);
}

static void test_errors(void)
{
    struct token_result r;

    parse(400,
          "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS70008: The provided "
          "authorization code or refresh token has expired.\\r\\nTrace ID: abc\\r\\n"
          "Correlation ID: def\",\"error_codes\":[70008],\"timestamp\":\"2026-01-01 "
          "00:00:00Z\"}",
          0, &r);
    ok(r.verdict == TOKEN_PERMANENT && r.aadsts == 70008 && strcmp(r.error, "invalid_grant") == 0,
       "invalid_grant AADSTS70008 needs a person");
    ok(strstr(r.message, "import") != NULL, "the message says how to fix it: %s", r.message);
    ok(strstr(r.message, "Trace ID") == NULL, "trace lines are not kept");

    parse(401,
          "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
          "secret provided.\",\"error_codes\":[7000215]}",
          0, &r);
    ok(r.verdict == TOKEN_PERMANENT && strstr(r.message, "Value") != NULL,
       "wrong secret (ID instead of Value) names the fix");

    parse(400,
          "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50196: loop\","
          "\"error_codes\":[50196]}",
          0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "AADSTS50196 throttling is temporary");

    parse(400, "{\"error\":\"temporarily_unavailable\"}", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "temporarily_unavailable is temporary");

    parse(429, "{\"error\":\"too_many\"}", 30, &r);
    ok(r.verdict == TOKEN_TRANSIENT && r.retry_after == 30, "429 is temporary, keeps Retry-After");

    parse(503, "", 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT, "503 with no body is temporary");

    parse(400, "{\"error\":\"unauthorized_client\",\"error_codes\":\"nope\"}", 0, &r);
    ok(r.verdict == TOKEN_PERMANENT && r.aadsts == 0, "error_codes of the wrong type is ignored");

    parse(400, "{\"error\":\"invalid_request\",\"error_description\":\"bad\\u0001\\nline2\"}", 0,
          &r);
    ok(strchr(r.message, '\001') == NULL && strstr(r.message, "line2") == NULL,
       "descriptions are cleaned and cut at the first line");

    parse(0, NULL, 0, &r);
    ok(r.verdict == TOKEN_TRANSIENT && strstr(r.message, "Connection refused") != NULL,
       "no reply at all is temporary and says why");
}

static void test_hints(void)
{
    static const long codes[] = {70008,  700082, 50173, 7000215, 7000222, 65001,  50076,   50079,
                                 700016, 90002,  53003, 500011,  7000218, 700025, 9001023, 50196};
    size_t i;
    int all = 1;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (explain_aadsts(codes[i]) == NULL)
            all = 0;
    ok(all, "every AADSTS code in REFERENCE.md has a hint");
    ok(explain_aadsts(12345) == NULL, "unknown codes have none");
}

int main(void)
{
    test_success();
    test_bad_success();
    test_embedded_nul();
    test_errors();
    test_hints();
    return done_testing();
}
