/* signals.c - record SIGTERM/SIGINT/SIGUSR1; the scheduler polls tsr_signals_pending(). */
#include "runtime/runtime.h"

#include <signal.h>
#include <string.h>

/* A signal handler can only talk through a global; this is the one. */
static volatile sig_atomic_t tsr_sig_received;

static void tsr_sig_handler(int sig)
{
    if (!tsr_sig_received)
        tsr_sig_received = sig;
}

void tsr_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tsr_sig_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int tsr_signals_pending(void) { return (int)tsr_sig_received; }

void tsr_signals_reset(void) { tsr_sig_received = 0; }
