"""What `./shadowvisor run` reports when the guest did not power off cleanly,
shared by the QEMU (run_vm.py) and Bochs (run_bochs.py) runners so that both
give the exit statuses the README documents: 124 timeout, 4 guest kernel panic."""
import sys


def timeout_or_panic(reason, elapsed, timeout):
    """The exit status for a run that ended by `reason` ("timeout", "panic"),
    after printing why; None for any other reason."""
    if reason == "timeout":
        print("\nshadowvisor run: error: timeout: guest did not power off within %g s" % timeout,
              file=sys.stderr, flush=True)
        return 124
    if reason == "panic":
        print("\nshadowvisor run: error: guest kernel panic after %.1f s" % elapsed,
              file=sys.stderr, flush=True)
        return 4
    return None
