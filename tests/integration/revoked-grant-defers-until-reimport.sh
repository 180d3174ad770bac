#!/bin/bash
# revoked-grant-defers-until-reimport.sh - a revoked refresh token, end to end
#
# The user's grant is revoked at the identity platform (password reset,
# admin action: AADSTS50173). Once the current access token can no longer
# be handed out, mail must be deferred, not bounced, and the sender's log
# must name the account and say a person is needed. An admin then imports
# a new refresh token into the running daemon (no restart); a flush
# delivers everything.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
LIFETIME=${REVOKE_LIFETIME:-20}
N=2

start_mock
mockctl settings --lifetime "$LIFETIME" >/dev/null || bail "mock settings failed"
start_receiver
prepare_sender
start_helper
start_sender xoauth2
diag "token lifetime ${LIFETIME}s; receiver :$RECEIVER_PORT, sender :$SENDER_PORT"

check_num "before the revocation: a message is delivered" "$(inject 1)" -eq 1
wait_delivered 1 60
check_num "before the revocation: delivered" "$(delivered_count)" -eq 1

mockctl revoke --user "$ALICE" >/dev/null || bail "mock revoke failed"
# Wait until the daemon has been refused a refresh and its last token is
# too old to hand out (it keeps a valid one while it can).
refused() { [ "$(mock_stat token_requests.by_outcome.revoked)" -ge 1 ]; }
wait_until $((LIFETIME * 3)) refused || bail "the daemon never tried to refresh after the revocation"
revoked_at=$SECONDS
stale() { [ $((SECONDS - revoked_at)) -ge "$LIFETIME" ]; }
wait_until $((LIFETIME + 10)) stale

check_num "after the revocation: the sender's smtpd accepted the messages" "$(inject "$N")" -eq "$N"
wait_deferred "$N" 60
check_num "messages were deferred" "$(deferral_count)" -ge "$N"
check_num "nothing bounced" "$(bounce_count)" -eq 0
check_num "messages still queued" "$(queue_size)" -eq "$N"
why=$(sender_log | grep -E 'postfix/smtp\[' | grep -F "$ALICE" | grep -i -E 'person|revoked|import|authori[sz]' | head -n 1)
check_num "the sender's log names the account and says a person must act" "$(printf '%s' "$why" | grep -c .)" -eq 1
diag "log: ${why:0:300}"
check_num "no expired or revoked token reached the receiver" "$(mock_stat introspections.failed)" -eq 0

# The admin pastes a new refresh token; the daemon is not restarted.
import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
wait_until 20 helper token "$ALICE"
flush_sender
wait_delivered $((N + 1)) 60
check_num "after a new import and a flush: all delivered" "$(delivered_count)" -eq $((N + 1))
check_num "queue is empty" "$(queue_size)" -eq 0
check_num "still nothing bounced" "$(bounce_count)" -eq 0
done_testing
