/*
 * explain.c - setup failures, their meaning and their fix (see explain.h)
 *
 * Sources: Microsoft's AADSTS reference and Exchange Online's SMTP AUTH
 * troubleshooting (REFERENCE.md), Google's OAuth 2.0 service-account
 * errors. An entry a test checks for keeps its wording.
 */
#include "autoconfig.h"

#include "explain.h"

#include <string.h>

/* E - one entry: its fields, and "what; fix: how" built at compile time */
#define E(kind, code, prefix, contains, transient, what, fix)                                      \
    {                                                                                              \
        kind, code, prefix, contains, transient, what, fix, what "; fix: " fix                     \
    }
#define AADSTS(code, transient, what, fix) E(EXPLAIN_AADSTS, code, NULL, NULL, transient, what, fix)
#define SMTP(prefix, contains, transient, what, fix)                                               \
    E(EXPLAIN_SMTP, 0, prefix, contains, transient, what, fix)
#define OAUTH(error, contains, what, fix) E(EXPLAIN_OAUTH, 0, error, contains, 0, what, fix)

/* Where the admin consoles keep what the fixes name (quoted in several entries). */
#define ENTRA_OVERVIEW "Entra admin center > App registrations > the app > Overview"
#define GOOGLE_DWD                                                                                 \
    "Google Workspace admin console > Security > Access and data control > API controls > "        \
    "Manage domain-wide delegation"

static const struct explain table[] = {
    /* Entra ID: refresh tokens that can no longer be used. */
    AADSTS(70008, 0, "the refresh token expired (90 days unused or revoked)",
           "authorize the account again (oauth2-token-helper authorize ACCOUNT) and import the new "
           "refresh token"),
    AADSTS(700082, 0, "the refresh token expired after 90 days of inactivity",
           "authorize the account again: oauth2-token-helper authorize ACCOUNT"),
    AADSTS(70043, 0, "the refresh token expired by a Conditional Access sign-in frequency policy",
           "authorize the account again: oauth2-token-helper authorize ACCOUNT (and ask the tenant "
           "admin to exclude this mailbox from the sign-in frequency policy, or use an app-only "
           "account, which no sign-in frequency applies to)"),
    AADSTS(50173, 0, "the grant was revoked (password change or admin revocation)",
           "authorize the account again and import the new refresh token"),
    /* Entra ID: the app's credential. */
    AADSTS(7000215, 0,
           "invalid client secret: the secret's ID was probably used instead of its Value",
           "put the Value in client_secret_file (Certificates & secrets > Client secrets), or "
           "use a certificate or a federated credential instead"),
    AADSTS(7000222, 0, "the client secret has expired",
           "create a new one under Certificates & secrets and update client_secret_file, or "
           "use a certificate or a federated credential, which need no secret"),
    AADSTS(700027, 0,
           "the certificate that signed the client assertion is not registered for this app",
           "upload client_certificate_file's certificate under Certificates & secrets > "
           "Certificates"),
    AADSTS(700024, 0, "the client assertion is outside its validity period",
           "check this host's clock (NTP)"),
    AADSTS(7000218, 0, "public client flows are disabled",
           "enable \"Allow public client flows\" (Authentication blade of the app registration), "
           "or give the app a credential (client_secret_file or client_certificate_file)"),
    AADSTS(700025, 0, "this public client must not send a secret", "remove client_secret_file"),
    /* Entra ID: the app, the tenant, the scope. */
    AADSTS(700016, 0,
           "the app (client_id) was not found in this tenant: a wrong client_id, or the app is "
           "registered in another tenant",
           "check client_id and tenant: both are shown in " ENTRA_OVERVIEW),
    AADSTS(50194, 0, "the app is single-tenant and cannot sign in over /common",
           "set tenant to its Directory (tenant) ID (" ENTRA_OVERVIEW ")"),
    AADSTS(90002, 0, "the tenant was not found", "check tenant, and provider for national clouds"),
    AADSTS(9001023, 0, "this grant is not supported over /common",
           "set tenant to the tenant ID or domain"),
    AADSTS(500011, 0, "the resource in scope was not found", "check scope"),
    AADSTS(1002012, 0,
           "client_credentials takes one scope ending in /.default, such as "
           "https://outlook.office365.com/.default",
           "check scope"),
    AADSTS(70011, 0, "the scope is not valid for this grant", "check scope"),
    /* Entra ID: consent and policy. */
    AADSTS(65001, 0, "consent is missing",
           "grant admin consent for SMTP.Send (or SMTP.SendAsApp) on the app registration"),
    AADSTS(65004, 0, "the user declined the consent",
           "sign in again and accept, or grant admin consent on the app registration"),
    AADSTS(50076, 0, "multi-factor authentication is required",
           "authorize the account interactively"),
    AADSTS(50079, 0, "multi-factor authentication enrolment is required",
           "authorize the account interactively"),
    AADSTS(53003, 0, "blocked by a Conditional Access policy",
           "ask the tenant admin to allow this client"),
    AADSTS(50196, 1, "the identity platform is throttling requests (loop detected)",
           "none needed: backing off"),
    /* Entra ID: interactive sign-in. */
    AADSTS(50011, 0, "the redirect URI is not registered",
           "add http://localhost under Authentication > Mobile and desktop applications"),
    AADSTS(501481, 0, "the PKCE code verifier does not match the challenge",
           "start authorize again"),
    AADSTS(70000, 0, "the authorization code or grant is invalid or was already used",
           "start authorize again"),

    /* SMTP replies, most specific first: the first matching prefix wins. */
    SMTP("535 5.7.139", NULL, 0, "SMTP AUTH is disabled for this mailbox or for the whole tenant",
         "in Exchange Online PowerShell run Set-CASMailbox -Identity MAILBOX "
         "-SmtpClientAuthenticationDisabled $false, and for the tenant Set-TransportConfig "
         "-SmtpClientAuthenticationDisabled $false (Security defaults also block it)"),
    SMTP("430 4.2.0", "STOREDRV", 0,
         "mailbox logon failure: the app-only token is valid, but Exchange does not let this app "
         "into the mailbox",
         "register the app in Exchange (New-ServicePrincipal -AppId APP_ID -ObjectId "
         "ENTERPRISE_APP_OBJECT_ID) and give it the mailbox (Add-MailboxPermission -Identity "
         "MAILBOX -User SERVICE_PRINCIPAL_ID -AccessRights FullAccess)"),
    SMTP("535 5.7.3", NULL, 0, "the server refused the token",
         "check that login is the mailbox the token belongs to (or one it may send as), that the "
         "app has SMTP.Send (delegated) or SMTP.SendAsApp with a service principal given "
         "FullAccess to the mailbox (app-only), and that scope is the SMTP scope"),
    SMTP("535 5.7.8", NULL, 0,
         "the server refused the token (Gmail: wrong login, or scope is not "
         "https://mail.google.com/)",
         "check login and scope; for a service account, that domain-wide delegation lists its "
         "client ID with https://mail.google.com/"),
    SMTP("535", NULL, 0, "authentication failed: the server refused the login or the token",
         "check login, scope and the mailbox's permissions"),
    SMTP("550 5.7.30", NULL, 0,
         "basic authentication is off: the client sent a password, not XOAUTH2",
         "let the relay use XOAUTH2 (smtp_sasl_mechanism_filter) and install the plugin"),
    SMTP("501 5.5.127", NULL, 0, "the token expires too soon for this endpoint",
         "keep refresh_ahead at 600 seconds or more"),
    SMTP("501 5.5.124", NULL, 0, "the server could not read the XOAUTH2 data",
         "check login for stray characters"),
    SMTP("530 5.7.0", NULL, 0, "the server wants STARTTLS before AUTH",
         "use port 587 with STARTTLS"),
    SMTP("550 5.7.60", NULL, 0, "SendAsDenied: the login may not send as this From address",
         "send as the login, or give it Send As rights on the From address"),
    SMTP("554 5.2.0", NULL, 0,
         "the message was refused after login, often SendAsDenied: the login may not send as the "
         "From address",
         "send as the login, or give it Send As rights on the From address"),

    /* Google's token endpoint (service accounts, JWT bearer grant). */
    OAUTH("unauthorized_client", NULL,
          "Google refused the service account for this mailbox: domain-wide delegation is not "
          "granted for its client ID and https://mail.google.com/",
          "in " GOOGLE_DWD ", add the service account's client ID with the scope "
          "https://mail.google.com/ (it can take a while to apply)"),
    OAUTH("invalid_grant", "Invalid email or User ID",
          "Google knows no user for login (the JWT's sub)",
          "set login to a mailbox of the Workspace domain that delegated to the service account"),
    OAUTH("invalid_grant", "Invalid JWT Signature",
          "Google does not know the key that signed the assertion (deleted or from another "
          "service account)",
          "create a new key for the service account (Google Cloud console > IAM & Admin > "
          "Service accounts > Keys) and replace service_account_file"),
    OAUTH("invalid_grant", "Invalid JWT", "Google refused the assertion's times (iat, exp)",
          "check this host's clock (NTP)"),
    OAUTH("invalid_grant", "account not found", "the service account was deleted or disabled",
          "create or enable it in the Google Cloud console and download a new key"),
};

#define N_ENTRIES (sizeof(table) / sizeof(table[0]))

/* explain_aadsts - the entry for an AADSTS code */
const struct explain *explain_aadsts(long code)
{
    size_t i;

    for (i = 0; i < N_ENTRIES; i++)
        if (table[i].kind == EXPLAIN_AADSTS && table[i].code == code)
            return &table[i];
    return NULL;
}

/* explain_smtp - the first entry whose prefix starts the reply and whose word it holds */
const struct explain *explain_smtp(const char *reply)
{
    size_t i;

    if (reply == NULL)
        return NULL;
    for (i = 0; i < N_ENTRIES; i++)
        if (table[i].kind == EXPLAIN_SMTP &&
            strncmp(reply, table[i].prefix, strlen(table[i].prefix)) == 0 &&
            (table[i].contains == NULL || strstr(reply, table[i].contains) != NULL))
            return &table[i];
    return NULL;
}

/* explain_oauth - the first entry for error whose fixed text the description holds */
const struct explain *explain_oauth(const char *error, const char *desc)
{
    size_t i;

    if (error == NULL)
        return NULL;
    for (i = 0; i < N_ENTRIES; i++)
        if (table[i].kind == EXPLAIN_OAUTH && strcmp(error, table[i].prefix) == 0 &&
            (table[i].contains == NULL ||
             (desc != NULL && strstr(desc, table[i].contains) != NULL)))
            return &table[i];
    return NULL;
}

/* explain_entry - the i'th entry, NULL past the end */
const struct explain *explain_entry(size_t i)
{
    return i < N_ENTRIES ? &table[i] : NULL;
}
