"""`positronic-server`: review, score and cut recorded episodes in a web browser."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import configuronic as cfn

from positronic_core.cli.runner import run


def local_dataset(path: str | None = None) -> Path:
    """A directory holding one dataset, or several at any depth below it."""
    if path is None:
        raise SystemExit("positronic-server: error: --dataset.path=DIR is required (a dataset directory, or a "
                         "directory with datasets below it)")
    return Path(str(path)).expanduser()


def serve(dataset: Path, port: int = 5001, host: str = "127.0.0.1", auth_token: str | None = None,
          insecure: bool = False, clips_dataset: str = "clips", page_size: int = 50, log_level: str = "info") -> None:
    """Serve a web page to review recorded episodes: table, videos, plots, scoring and clip export.

    Flags:
      --dataset.path=DIR   A Positronic dataset (ours or upstream's), or a directory with datasets anywhere below
                           it (one per run, say); all of them appear in one table. Episodes recorded or finished
                           while the server runs join the table within a few seconds.
      --port=5001          TCP port; 0 picks a free one (printed at start).
      --host=127.0.0.1     Address to bind. The page writes scores and clip episodes, so any address but
                           loopback needs a token (or --insecure=True).
      --auth_token=SECRET  Require this token on every page and API call (default: $POSITRONIC_AUTH_TOKEN, the
                           policy server's variable). Open the page once as http://HOST:PORT/?token=SECRET: the
                           server sets a session cookie and drops the token from the address. Scripts send
                           `Authorization: Bearer SECRET`.
      --insecure=True      Serve beyond loopback without a token: anyone who can reach the port can score
                           episodes and write clips.
      --clips_dataset=clips  The dataset, directly in DIR, that the page exports clips into by default (created
                           at the first export). A clip is marked as one in its statics and is never counted as an
                           evaluation run, whichever dataset it goes to.
      --page_size=50       Rows per table page until the page asks for another size.
      --log_level=info     debug also logs every request.

    The table shows each episode's start, duration, task, policy, model, checkpoint, seed and outcome; click a
    header to sort, type in the row under it to filter (`>5`, `<=10`, `2..8` on number columns; `=x` exact,
    `!x` excluding on text), and open an episode for its videos and plots on one timeline. Scores are appended to
    `<dataset>/scores.jsonl` (latest wins); recorded files are never rewritten. `positronic-eval report DIR`
    summarises the same outcomes.
    """
    from positronic_core.dataset.errors import DatasetError
    from positronic_core.review.access import check_bind
    from positronic_core.review.clip_export import ClipError
    from positronic_core.review.episode_index import EpisodeIndex
    from positronic_core.review.server import ReviewServer
    from positronic_core.wire.access_token import TokenConfigError, resolve_token

    logging.basicConfig(level=getattr(logging, str(log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = str(host)
    try:
        token = resolve_token(None if auth_token is None else str(auth_token))
        check_bind(host, token, bool(insecure))
        index = EpisodeIndex(Path(dataset))
        server = ReviewServer(index, host=host, port=int(port), default_page_size=int(page_size),
                              clips_dataset=str(clips_dataset), token=token)
    except ClipError as exc:
        raise SystemExit(f"positronic-server: error: --clips_dataset: {exc}") from None
    except (TokenConfigError, DatasetError) as exc:
        raise SystemExit(f"positronic-server: error: {exc}") from None
    except OSError as exc:
        raise SystemExit(f"positronic-server: error: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if token is None and not server.app.loopback_only:
        print(f"positronic-server: warning: --insecure: listening on {host} without a token; anyone who can reach "
              "it can score episodes and write clips", file=sys.stderr)
    index.start()
    opening = f"{server.url}/?token=<token>" if token else f"{server.url}/"
    print(f"positronic-server: serving {index.root} at {opening} (indexing in the background)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        index.close()
        server.httpd.server_close()


CONFIG = cfn.Config(serve, dataset=cfn.Config(local_dataset))


def main() -> None:
    run(CONFIG, prog="positronic-server")


if __name__ == "__main__":
    main()
