"""A stand-in vendor server for the process-manager tests: it listens on a TCP port (or pointedly does not).

Flags: --port=N (required), --checkpoint_dir (ignored), --pid_file=F (writes "<own pid> <child pid>"), --child
(spawns a grandchild that sleeps, as `uv run` -> python does), --ignore_sigterm, --never_listen, --exit_code=N
(exit at once, after printing --message to stderr), --startup_s=S (sleep before listening).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--checkpoint_dir")
    parser.add_argument("--pid_file")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--ignore_sigterm", action="store_true")
    parser.add_argument("--never_listen", action="store_true")
    parser.add_argument("--exit_code", type=int)
    parser.add_argument("--message", default="")
    parser.add_argument("--startup_s", type=float, default=0.0)
    args = parser.parse_args()

    if args.exit_code is not None:
        print(args.message, file=sys.stderr, flush=True)
        sys.exit(args.exit_code)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child_pid = 0
    if args.child:
        child = [sys.executable, "-c", "import signal, time\n"
                 + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if args.ignore_sigterm else "")
                 + "time.sleep(600)"]
        child_pid = subprocess.Popen(child).pid
    if args.pid_file:
        with open(args.pid_file + ".tmp", "w") as f:
            f.write(f"{os.getpid()} {child_pid}")
        os.replace(args.pid_file + ".tmp", args.pid_file)
    time.sleep(args.startup_s)
    if args.never_listen:
        time.sleep(600)
        return
    server = socket.create_server(("127.0.0.1", args.port))
    while True:
        connection, _ = server.accept()
        connection.close()


if __name__ == "__main__":
    main()
