/*
 * test_explain.c - the one table of setup failures: every code the issue
 * names has a meaning and a fix, SMTP replies match the most specific
 * entry, Google's errors match by error and description, unknown ones
 * have none
 */
#include <string.h>

#include "explain.h"
#include "tap.h"

/* test_aadsts - the Entra codes admins hit most after a migration */
static void test_aadsts(void)
{
    static const struct {
        long code;
        const char *fix_word;
    } want[] = {
        {50194, "tenant"},
        {700016, "client_id"},
        {7000215, "client_secret_file"},
        {7000222, "Certificates & secrets"},
        {70043, "authorize"},
        {700082, "authorize"},
    };
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct explain *e = explain_aadsts(want[i].code);

        ok(e != NULL && !e->transient && strstr(e->fix, want[i].fix_word) != NULL &&
               strstr(e->text, "; fix: ") != NULL,
           "AADSTS%ld: needs a person, fix names %s: %s", want[i].code, want[i].fix_word,
           e ? e->text : "(none)");
    }
    ok(explain_aadsts(50196) != NULL && explain_aadsts(50196)->transient,
       "AADSTS50196 (throttling) is temporary");
    ok(explain_aadsts(12345) == NULL && explain_aadsts(0) == NULL, "unknown codes have none");
}

/* test_smtp - replies by code, enhanced status and a word of the text */
static void test_smtp(void)
{
    const struct explain *e;

    e = explain_smtp("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                     "disabled for the Tenant.");
    ok(e != NULL &&
           strstr(e->fix, "Set-CASMailbox -Identity MAILBOX "
                          "-SmtpClientAuthenticationDisabled $false") != NULL &&
           strstr(e->fix, "Set-TransportConfig -SmtpClientAuthenticationDisabled $false") != NULL,
       "535 5.7.139: both the mailbox and the tenant command");
    e = explain_smtp("430 4.2.0 STOREDRV.Submission.Exception:MailboxLogonFailedException; "
                     "mailbox logon failure");
    ok(e != NULL && !e->transient && strstr(e->fix, "Add-MailboxPermission") != NULL &&
           strstr(e->fix, "New-ServicePrincipal") != NULL,
       "430 4.2.0 STOREDRV: needs a person, Add-MailboxPermission and New-ServicePrincipal");
    ok(explain_smtp("430 4.2.0 something else") == NULL, "430 4.2.0 without STOREDRV: no claim");
    e = explain_smtp("535 5.7.3 Authentication unsuccessful");
    ok(e != NULL && strcmp(e->prefix, "535 5.7.3") == 0, "535 5.7.3 is not taken for plain 535");
    ok(explain_smtp("250 OK") == NULL && explain_smtp(NULL) == NULL, "no entry for success");
}

/* test_oauth - Google's errors, by error and a fixed part of the description */
static void test_oauth(void)
{
    const struct explain *e;

    e = explain_oauth("unauthorized_client", "Client is unauthorized to retrieve access tokens "
                                             "using this method.");
    ok(e != NULL && strstr(e->fix, "Manage domain-wide delegation") != NULL &&
           strstr(e->fix, "https://mail.google.com/") != NULL,
       "unauthorized_client: the Workspace delegation step");
    e = explain_oauth("invalid_grant", "Invalid JWT Signature.");
    ok(e != NULL && strstr(e->fix, "new key") != NULL, "Invalid JWT Signature: a new key");
    e = explain_oauth("invalid_grant", "Invalid email or User ID");
    ok(e != NULL && strstr(e->fix, "login") != NULL, "Invalid email or User ID: fix login");
    ok(explain_oauth("invalid_grant", "something new") == NULL && explain_oauth(NULL, NULL) == NULL,
       "an unknown description has no entry");
}

/* test_table - every entry complete, one line, no duplicate key */
static void test_table(void)
{
    const struct explain *e;
    size_t i;
    size_t j;
    int complete = 1;
    int unique = 1;

    for (i = 0; (e = explain_entry(i)) != NULL; i++) {
        const struct explain *f;

        if (e->what[0] == '\0' || e->fix[0] == '\0' || strchr(e->text, '\n') != NULL)
            complete = 0;
        for (j = 0; (f = explain_entry(j)) != NULL; j++)
            if (j != i && e->kind == f->kind && e->code == f->code &&
                (e->prefix == NULL) == (f->prefix == NULL) &&
                (e->prefix == NULL || strcmp(e->prefix, f->prefix) == 0) &&
                (e->contains == NULL) == (f->contains == NULL) &&
                (e->contains == NULL || strcmp(e->contains, f->contains) == 0))
                unique = 0;
    }
    ok(i > 30 && complete, "%zu entries, each with a meaning and a fix on one line", i);
    ok(unique, "no two entries for the same key");
}

int main(void)
{
    test_aadsts();
    test_smtp();
    test_oauth();
    test_table();
    return done_testing();
}
